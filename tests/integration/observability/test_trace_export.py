"""Traces that leave the box: `dugout run` exports over OTLP/HTTP to a local receiver that
decodes the protobuf export requests (resource, run and stage spans, ERROR on a failed run);
the sources' HTTP client spans never carry the API key; database statements get client spans."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from app.pipelines.build import build_context
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.mlb_statsapi import MlbStatsApiSource
from app.pipelines.sources.odds_api import OddsApiSource
from tests.integration.sources.feed_server import ODDS_PATH, SCHEDULE_PATH, FeedServer

API_KEY = "sk-live-TOPSECRET-9f8e7d6c5b4a"
DUGOUT = Path(sys.executable).parent / "dugout"


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver: POST /v1/traces, protobuf body, decoded and kept."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                ok = self.path == "/v1/traces" and (
                    self.headers["Content-Type"] == "application/x-protobuf"
                )
                if ok:
                    message = ExportTraceServiceRequest()
                    message.ParseFromString(body)
                    with receiver.arrived:
                        receiver.requests.append(message)
                        receiver.arrived.notify_all()
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver")

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span received so far."""
        found = []
        with self.arrived:
            for request in self.requests:
                for resource_spans in request.resource_spans:
                    resource = _attributes(resource_spans.resource.attributes)
                    for scope in resource_spans.scope_spans:
                        found.extend((resource, span) for span in scope.spans)
        return found


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in pairs}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(timeout=10)


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    yield server
    server.close()


def _dugout_run(tmp_path: Path, receiver: OtlpReceiver, feed: FeedServer) -> int:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DUGOUT_", "OTEL_"))},
        "DUGOUT_VAR_DIR": str(tmp_path / "var"),
        "DUGOUT_SOURCE": "odds_api",
        "DUGOUT_ODDS_API_KEY": API_KEY,
        "DUGOUT_ODDS_API_BASE_URL": feed.base_url,
        "DUGOUT_STATSAPI_BASE_URL": feed.base_url,
        "DUGOUT_SOURCE_TIMEOUT_S": "5",
        "DUGOUT_LOG_LEVEL": "WARNING",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    done = subprocess.run(
        [str(DUGOUT), "run", "collection"], env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.returncode


def test_cli_runs_export_spans_over_otlp_with_service_and_error_status(
    tmp_path: Path, receiver: OtlpReceiver, feed: FeedServer
) -> None:
    from app.observability.tracing import service_version

    assert _dugout_run(tmp_path, receiver, feed) == 0
    feed.serve_json(ODDS_PATH, {"message": "internal error"}, status=500)
    feed.serve_json(SCHEDULE_PATH, {"message": "internal error"}, status=500)
    # a second, new install: the first one's quota plan would hold its paid poll this soon
    assert _dugout_run(tmp_path / "second", receiver, feed) == 1  # exits after its export

    spans = receiver.spans()
    resources = {tuple(sorted(r.items())) for r, _ in spans}
    assert len(resources) == 2  # one per process, each with the service's identity
    for resource, _ in spans:
        assert resource["service.name"] == "dugout"
        assert resource["service.version"] == service_version() != "0+unknown"
    runs = [s for _, s in spans if s.name == "pipeline collection"]
    assert len(runs) == 2
    by_status = {_attributes(s.attributes)["dugout.status"]: s for s in runs}
    failed = by_status.pop("failed")
    assert failed.status.code == Status.STATUS_CODE_ERROR
    (ok,) = by_status.values()
    assert ok.status.code != Status.STATUS_CODE_ERROR
    for run in runs:
        children = [s for _, s in spans if s.parent_span_id == run.span_id]
        assert "stage collect" in {s.name for s in children}
        collect = next(s for s in children if s.name == "stage collect")
        calls = [s for s in _descendants(spans, collect) if s.name == "GET"]
        assert len(calls) >= 2  # The Odds API and MLB Stats API, each a client span
    failed_collect = next(
        s for _, s in spans if s.name == "stage collect" and s.parent_span_id == failed.span_id
    )
    assert failed_collect.status.code == Status.STATUS_CODE_ERROR
    for _, span in spans:  # the key reaches no exported span, whatever the outcome
        assert API_KEY not in str(span), span.name


def _descendants(spans: list[tuple[dict[str, Any], Any]], root: Any) -> list[Any]:
    found, frontier = [], {root.span_id}
    while frontier:
        level = [s for _, s in spans if s.parent_span_id in frontier]
        found += level
        frontier = {s.span_id for s in level}
    return found


def _every_text(span: Any) -> list[str]:
    texts = [span.name, span.status.description or ""]
    texts += [str(v) for v in (span.attributes or {}).values()]
    for event in span.events:
        texts += [event.name, *(str(v) for v in (event.attributes or {}).values())]
    return texts


def test_source_client_spans_redact_the_api_key_from_every_attribute(
    app, spans, feed: FeedServer
) -> None:
    db = app.extensions["dugout.db"]
    now = datetime.now(UTC)
    sources = [
        OddsApiSource(API_KEY, base_url=feed.base_url, timeout=2.0),
        MlbStatsApiSource(base_url=feed.base_url, timeout=2.0),
    ]
    ctx = build_context(app.extensions["dugout.settings"], db.sessionmaker, sources=sources)
    ctx = replace(ctx, quota_plan=None)  # every run polls, as with no plan: two odds fetches
    spans.clear()
    run_pipeline(ctx, "collection", "manual", actor="tester")
    feed.serve_body(ODDS_PATH, b"{not json", status=200)  # a failure whose message has a URL
    run_pipeline(ctx, "collection", "manual", actor="tester")
    for source in sources:
        source.close()
    assert any(r.query.get("apiKey") == [API_KEY] for r in feed.requests)  # it was sent
    finished = spans.get_finished_spans()
    clients = [s for s in finished if s.kind.name == "CLIENT" and s.name == "GET"]
    odds = [s for s in clients if s.attributes["url.full"].startswith(feed.base_url + ODDS_PATH)]
    # one fetch per run at least (the malformed body is retried), every one answered 200
    assert len(odds) >= 2 and {s.attributes["http.response.status_code"] for s in odds} == {200}
    assert all(s.attributes["http.request.method"] == "GET" for s in clients)
    for span in finished:
        for text in _every_text(span):
            assert API_KEY not in text, (span.name, text)
    assert now  # the runs happened on the real clock


def test_redaction_of_urls_and_messages_that_carry_credentials() -> None:
    import httpx

    from app.observability.http_spans import redact_text, redact_url

    url = httpx.URL(f"https://user:pw@api.example/v4/odds?regions=us&apiKey={API_KEY}&token=t0k")
    assert (
        redact_url(url) == "https://api.example/v4/odds?regions=us&apiKey=REDACTED&token=REDACTED"
    )
    message = f"GET https://api.example/v4/odds?apiKey={API_KEY}&markets=h2h failed"
    assert API_KEY not in redact_text(message) and "markets=h2h" in redact_text(message)


def test_database_statements_inside_a_run_get_client_spans(app, spans) -> None:
    db = app.extensions["dugout.db"]
    ctx = build_context(app.extensions["dugout.settings"], db.sessionmaker)
    spans.clear()
    result = run_pipeline(ctx, "collection", "manual", actor="tester")
    finished = spans.get_finished_spans()
    (run,) = [s for s in finished if s.name == "pipeline collection"]
    statements = [s for s in finished if "db.query.text" in (s.attributes or {})]
    assert statements and all(s.kind.name == "CLIENT" for s in statements)
    assert all(s.context.trace_id == run.context.trace_id for s in statements)
    inserts = [s for s in statements if s.attributes["db.operation.name"] == "INSERT"]
    assert any("pipeline_runs" in s.attributes["db.query.text"] for s in inserts)
    system = db.engine.dialect.name
    assert {s.attributes["db.system.name"] for s in statements} == {system}
    for span in statements:  # parameters (run ids, payloads) are never recorded
        assert str(result.run_id) not in " ".join(_every_text(span))
