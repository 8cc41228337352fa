"""Alert notifications never block work: a run whose evaluation raises an alert finishes while
the webhook (a refused port, or a server that accepts and never answers) is still being tried;
a webhook that recovers gets the alert through the queue's retries."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.observability.alerts import AlertChange, AlertDelivery, WebhookNotifier
from app.pipelines.runner import run_pipeline
from app.services import pipeline_context
from tests.integration.observability import ledger
from tests.integration.observability.conftest import sample

DEADLINE_S = 120.0  # generous waits for conditions on a busy machine; never a timed assertion


class SilentServer:
    """Accepts connections and reads, never answers, until released at teardown."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.connected = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="silent-webhook", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _serve(self) -> None:
        held = []
        while not self.release.is_set():
            self.sock.settimeout(0.2)
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            held.append(conn)
            self.connected.set()
        for conn in held:
            conn.close()

    def close(self) -> None:
        self.release.set()
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def _refused_url() -> str:
    with socket.socket() as sock:  # bound, then closed: nothing listens on that port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def _burning(db) -> None:
    """An hour of failed collection runs: the reliability SLO pages on the next evaluation."""
    now = datetime.now(UTC)
    with db.session() as session:
        session.add_all(ledger.run(now - timedelta(minutes=m), "failed") for m in range(1, 60, 2))
        session.commit()


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_silent_webhook_does_not_hold_up_the_run(make_obs_app, silent: SilentServer) -> None:
    app = make_obs_app(alert_webhook_url=silent.url, slo_evaluate_interval_s=60.0)
    _burning(app.extensions["dugout.db"])
    delivery: AlertDelivery = app.extensions["dugout.observability"].notifier
    result = run_pipeline(pipeline_context(app), "collection", "manual", actor="tester")
    assert result.status in {"succeeded", "partial"}  # the run has returned ...
    _wait_for(silent.connected.is_set, "the alert never reached the webhook")
    assert delivery.pending >= 1  # ... while its alert is still waiting on the webhook
    with app.extensions["dugout.db"].session() as session:
        from sqlalchemy import select

        from app.models import Alert

        keys = set(session.scalars(select(Alert.key).where(Alert.status == "firing")))
    assert "slo:pipeline_reliability:page" in keys  # stored before any delivery
    delivery.close()


def test_a_refused_webhook_is_retried_off_the_run_path(make_obs_app) -> None:
    app = make_obs_app(alert_webhook_url=_refused_url(), slo_evaluate_interval_s=60.0)
    _burning(app.extensions["dugout.db"])
    delivery: AlertDelivery = app.extensions["dugout.observability"].notifier
    retrying = threading.Event()
    gate = threading.Event()

    def held_sleep(_seconds: float) -> None:  # the retry backoff waits until the test says so
        retrying.set()
        gate.wait(DEADLINE_S)

    delivery.notifier.sleep = held_sleep
    result = run_pipeline(pipeline_context(app), "collection", "manual", actor="tester")
    assert result.status in {"succeeded", "partial"}
    _wait_for(retrying.is_set, "the refused delivery was never retried")
    assert delivery.pending >= 1  # the run is over; its alert is between two attempts
    gate.set()
    assert delivery.wait_idle(DEADLINE_S)
    assert sample(app, "dugout_alert_notifications_total", outcome="failed") >= 1
    delivery.close()


class Hook:
    """A webhook that fails twice, then accepts."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.statuses = [503, 500]
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def test_the_queue_delivers_with_retries_and_drops_the_oldest_when_full() -> None:
    hook = Hook()
    hook.thread.start()
    outcomes: list[str] = []
    change = AlertChange("slo:x:page", "page", "X burning", "detail", "firing", {})
    delivery = AlertDelivery(
        WebhookNotifier(hook.url, sleep=lambda _s: None), on_outcome=outcomes.append
    )
    assert delivery.send(change) is True
    assert delivery.wait_idle(DEADLINE_S)
    assert outcomes == ["delivered"] and len(hook.bodies) == 3
    hook.server.shutdown()
    hook.server.server_close()

    gate, taken = threading.Event(), threading.Event()

    def held(_change: AlertChange) -> bool:
        taken.set()
        return gate.wait(DEADLINE_S)

    blocked = AlertDelivery(WebhookNotifier(_refused_url(), attempts=1), maxsize=2)
    blocked.notifier.send = held  # type: ignore[method-assign]
    seen: list[str] = []
    blocked.on_outcome = seen.append
    blocked.send(AlertChange("k0", "page", "t", "m", "firing", {}))
    _wait_for(taken.is_set, "the worker never took the first change")
    for n in range(1, 4):  # one in hand, two queued, the oldest queued one pushed out
        blocked.send(AlertChange(f"k{n}", "page", "t", "m", "firing", {}))
    assert seen == ["dropped"] and blocked.pending == 3
    gate.set()
    assert blocked.wait_idle(DEADLINE_S)
    assert seen == ["dropped", "delivered", "delivered", "delivered"]
    blocked.close()
