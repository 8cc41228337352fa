"""The Slack-compatible webhook against a local HTTP server: retries, backoff, giving up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.observability.alerts import AlertChange, WebhookNotifier


class Hook:
    """A local webhook that answers with the queued statuses, then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "7")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    thread = threading.Thread(target=h.server.serve_forever, daemon=True)
    thread.start()
    yield h
    h.server.shutdown()
    h.server.server_close()
    thread.join(5)


CHANGE = AlertChange(
    "slo:pipeline_reliability:page",
    "page",
    "Pipeline reliability: burning",
    "1h 20x & 5m 30x",
    "firing",
    {"slo": "pipeline_reliability"},
)


def test_delivers_slack_json_after_retrying_server_errors(hook: Hook) -> None:
    hook.statuses = [500, 503]
    slept: list[float] = []
    notifier = WebhookNotifier(hook.url, backoff_s=1.0, sleep=slept.append)
    assert notifier.send(CHANGE) is True
    notifier.close()
    assert len(hook.bodies) == 3 and slept == [1.0, 2.0]
    body = hook.bodies[-1]
    assert body["text"].startswith(":rotating_light: [FIRING] Pipeline reliability")
    assert body["attachments"][0]["text"] == "1h 20x & 5m 30x"
    assert {"title": "severity", "value": "page", "short": True} in body["attachments"][0]["fields"]


def test_honours_retry_after_and_gives_up_after_the_last_attempt(hook: Hook) -> None:
    hook.statuses = [429, 500, 500, 500]
    slept: list[float] = []
    notifier = WebhookNotifier(hook.url, attempts=3, sleep=slept.append)
    assert notifier.send(CHANGE) is False
    notifier.close()
    assert len(hook.bodies) == 3 and slept == [7.0, 2.0]


def test_client_errors_are_not_retried(hook: Hook) -> None:
    hook.statuses = [400]
    slept: list[float] = []
    notifier = WebhookNotifier(hook.url, sleep=slept.append)
    assert notifier.send(CHANGE) is False
    notifier.close()
    assert len(hook.bodies) == 1 and slept == []


def test_unreachable_webhook_is_retried_then_logged() -> None:
    slept: list[float] = []
    notifier = WebhookNotifier(
        "http://127.0.0.1:9/hook", attempts=2, timeout_s=1, sleep=slept.append
    )
    assert notifier.send(CHANGE) is False
    notifier.close()
    assert slept == [1.0]
