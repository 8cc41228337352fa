"""A real local HTTP server (ThreadingHTTPServer) answering with recorded-format feed payloads."""

from __future__ import annotations

import gzip as gzip_module
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAYLOADS = Path(__file__).parent / "payloads"
ODDS_PATH = "/v4/sports/baseball_mlb/odds"
SCORES_PATH = "/v4/sports/baseball_mlb/scores"
EVENTS_PATH = "/v4/sports/baseball_mlb/events"
SCHEDULE_PATH = "/api/v1/schedule"


FREE = {"x-requests-remaining": "4985", "x-requests-used": "15", "x-requests-last": "0"}


def events_of(odds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `/events` answer for an `/odds` payload: the same events without bookmakers."""
    return [{k: v for k, v in event.items() if k != "bookmakers"} for event in odds]


@dataclass
class Route:
    """What the server answers on one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # hold the request without answering until the fixture tears down


@dataclass(frozen=True)
class SeenRequest:
    """A request the server received, for assertions on query and headers."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FeedServer:
    """ThreadingHTTPServer on 127.0.0.1:<free port> answering from a route table."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self.release = threading.Event()
        self._server = _FeedHTTPServer(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="feed-server", kwargs={"poll_interval": 0.05}
        )

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def payload(self, name: str) -> Any:
        """A recorded payload file, decoded."""
        return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))

    def serve_json(
        self,
        path: str,
        payload: Any,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        gzip: bool = False,
    ) -> None:
        """Answer `path` with a JSON body (gzip-encoded when asked)."""
        self.serve_body(
            path, json.dumps(payload).encode(), status=status, headers=headers, gzip=gzip
        )

    def serve_file(self, path: str, name: str, **kwargs: Any) -> None:
        """Answer `path` with a recorded payload file."""
        self.serve_json(path, self.payload(name), **kwargs)

    def serve_body(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        gzip: bool = False,
    ) -> None:
        """Answer `path` with raw bytes, e.g. malformed JSON."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if gzip:
            body = gzip_module.compress(body)
            all_headers["Content-Encoding"] = "gzip"
        self.routes[path] = Route(status, body, all_headers)

    def hang(self, path: str) -> None:
        """Never answer `path` (until teardown), so the client times out."""
        self.routes[path] = Route(hang=True)

    def start(self) -> None:
        """Serve the recorded payloads on their real paths, with quota headers on the Odds API."""
        quota = {"x-requests-remaining": "4985", "x-requests-used": "15", "x-requests-last": "3"}
        self.serve_file(ODDS_PATH, "odds_mlb.json", headers=quota)
        self.serve_file(SCORES_PATH, "scores_mlb.json", headers={**quota, "x-requests-last": "2"})
        self.serve_file(SCHEDULE_PATH, "mlb_schedule.json")
        self.serve_json(EVENTS_PATH, events_of(self.payload("odds_mlb.json")), headers=FREE)
        self._thread.start()

    def close(self) -> None:
        """Release hung requests, stop serving and join every server thread."""
        self.release.set()
        self._server.shutdown()
        self._server.server_close()  # joins handler threads: daemon_threads is off
        self._thread.join(timeout=5)


class _FeedHTTPServer(ThreadingHTTPServer):
    """Carries the FeedServer for the handlers; joins handler threads on close."""

    daemon_threads = False
    block_on_close = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], feed: FeedServer
    ) -> None:
        super().__init__(address, handler)
        self.feed = feed


class _Handler(BaseHTTPRequestHandler):
    """GET only; HTTP/1.0, so every connection closes after its answer."""

    server: _FeedHTTPServer

    def do_GET(self) -> None:
        """Record the request, then answer from the route table."""
        feed = self.server.feed
        url = urlsplit(self.path)
        feed.requests.append(SeenRequest(url.path, parse_qs(url.query), dict(self.headers)))
        route = feed.routes.get(url.path, Route(404, b'{"message": "Unknown path"}'))
        if route.hang:
            feed.release.wait(timeout=10)
            return
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
