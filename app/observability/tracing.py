"""OpenTelemetry: one TracerProvider per process, made in create_app (after gunicorn forks), the
correlation id on every span, OTLP/HTTP export when OTEL_EXPORTER_OTLP_ENDPOINT is set, and a
slot where tests plug an in-memory exporter. Client spans for the sources' HTTP calls and for
database statements come from our own small hooks (see http_spans.py and db_spans.py)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode

from app.extensions import TRACER_PROVIDER
from app.observability.logging import correlation_id_var

log = logging.getLogger("dugout.tracing")
_lock = threading.Lock()
_state: dict[str, Any] = {"provider": None, "slot": None}


class CorrelationIdProcessor(SpanProcessor):
    """Stamps the current correlation id on every span as it starts."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        cid = correlation_id_var.get()
        if cid and (span.attributes or {}).get("dugout.correlation_id") != cid:
            span.set_attribute("dugout.correlation_id", cid)  # not given at the start

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do at the end."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing buffered."""
        return True


class ExporterSlot(SpanProcessor):
    """A span processor whose target can be replaced: the newest app's injected exporter."""

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None

    def use(self, exporter: SpanExporter | None) -> None:
        """Send spans to `exporter` from now on (None: nowhere)."""
        self.target = SimpleSpanProcessor(exporter) if exporter is not None else None

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        """Forward to the target."""
        if self.target is not None:
            self.target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Forward to the target."""
        if self.target is not None:
            self.target.on_end(span)

    def shutdown(self) -> None:
        """Shut the target down."""
        if self.target is not None:
            self.target.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the target."""
        return self.target.force_flush(timeout_millis) if self.target is not None else True


def _otlp_processor() -> SpanProcessor | None:
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(OTLPSpanExporter())  # endpoint, headers from OTEL_* variables


def service_version() -> str:
    """The installed Dugout's version, for the `service.version` resource attribute."""
    try:
        return version("dugout")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def mark_outcome(span: Any, status: str, message: str | None = None) -> None:
    """Mark a run or stage span ERROR when it failed (not raising is not succeeding)."""
    if status == "failed" and span.is_recording():
        span.set_status(Status(StatusCode.ERROR, (message or "failed")[:500]))


def process_provider() -> tuple[TracerProvider, ExporterSlot]:
    """This process's TracerProvider, created on first use and set as the global one.

    Call it from create_app, never at import: under gunicorn that runs in each worker after
    the fork, so the batch exporter's thread belongs to the worker.
    """
    with _lock:
        if _state["provider"] is not None:  # the SDK re-arms its batch thread after a fork
            return _state["provider"], _state["slot"]
        resource = Resource.create(
            {
                "service.name": os.environ.get("OTEL_SERVICE_NAME", "dugout"),
                "service.version": service_version(),
                "service.instance.id": f"{os.uname().nodename}:{os.getpid()}",
            }
        )
        provider = TracerProvider(resource=resource)
        slot = ExporterSlot()
        provider.add_span_processor(CorrelationIdProcessor())
        provider.add_span_processor(slot)
        otlp = _otlp_processor()
        if otlp is not None:
            provider.add_span_processor(otlp)
        if isinstance(trace.get_tracer_provider(), TracerProvider):
            log.warning("another global tracer provider exists; pipeline spans go there")
        else:
            trace.set_tracer_provider(provider)
        _state.update(provider=provider, slot=slot)
        return provider, slot


def init_tracing(app: Any, settings: Any) -> TracerProvider:
    """Instrument the Flask server; spans go to OTLP (when configured) or an injected exporter."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")  # before the instrumentor
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    provider, slot = process_provider()
    exporter = (getattr(settings, "extra", None) or {}).get("span_exporter")
    if exporter is not None:
        slot.use(exporter)
    if (getattr(settings, "extra", None) or {}).get("trace_database", True):
        from app.db import get_db
        from app.observability.db_spans import instrument_engine

        engine = get_db(app).engine
        if engine is not None:
            instrument_engine(engine)
    FlaskInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="healthz,readyz,assets/,_dash-component-suites/,_favicon",
        enable_commenter=False,
    )
    TRACER_PROVIDER.put(app, provider)
    return provider


def current_ids() -> tuple[str | None, str | None]:
    """The current trace and span ids as hex, or (None, None) outside a recorded span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def inject_headers(carrier: dict[str, str] | None = None) -> dict[str, str]:
    """The current trace context as headers (for Celery task headers and outgoing calls)."""
    carrier = {} if carrier is None else carrier
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str]) -> otel_context.Context:
    """A context to start a task's span under, from headers made by `inject_headers`."""
    return propagate.extract(dict(headers))
