"""Database client spans from SQLAlchemy's cursor events, inside runs and requests only.

opentelemetry-instrumentation-sqlalchemy 0.66b1 refuses SQLAlchemy 2.1 ("only instruments
sqlalchemy < 2.1"), and pinning SQLAlchemy back for tracing would trade the ORM for a span. These
two listeners are what it does that we need: one CLIENT span per statement, named by operation
and database, with the statement text (parameters are never recorded). Statements outside a
recording span (leader heartbeats, lease renewals every few seconds) make no span of their own.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Engine, event

_TRACER = trace.get_tracer("dugout.db")
_SPAN_KEY = "dugout.db_span"
_MAX_STATEMENT = 2000
_SYSTEM = {"postgresql": "postgresql", "sqlite": "sqlite"}


def _operation(statement: str) -> str:
    word = statement.lstrip().split(None, 1)
    return word[0].upper() if word else "SQL"


def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    parent = trace.get_current_span()
    if not parent.is_recording() or context is None:
        return
    engine = conn.engine
    name = engine.url.database or ""
    operation = _operation(statement)
    attributes = {
        "db.system.name": _SYSTEM.get(engine.dialect.name, engine.dialect.name),
        "db.operation.name": operation,
        "db.query.text": statement[:_MAX_STATEMENT],
    }
    if engine.dialect.name != "sqlite":  # a SQLite "namespace" is a file path: keep it out
        attributes["db.namespace"] = name
        if engine.url.host:
            attributes["server.address"] = engine.url.host
    span = _TRACER.start_span(
        f"{operation} {name.rsplit('/', 1)[-1]}".strip(),
        kind=SpanKind.CLIENT,
        attributes=attributes,
    )
    context._otel = (span, otel_context.attach(trace.set_span_in_context(span)))


def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    started = getattr(context, "_otel", None)
    if started is None:
        return
    span, token = started
    context._otel = None
    rows = getattr(cursor, "rowcount", -1)
    if isinstance(rows, int) and rows >= 0:
        span.set_attribute("db.response.returned_rows", rows)
    otel_context.detach(token)
    span.end()


def _error(exception_context: Any) -> None:
    context = exception_context.execution_context
    started = getattr(context, "_otel", None) if context is not None else None
    if started is None:
        return
    span, token = started
    context._otel = None
    error = exception_context.original_exception
    span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
    otel_context.detach(token)
    span.end()


def instrument_engine(engine: Engine) -> None:
    """Add the span listeners to `engine` (once)."""
    if event.contains(engine, "before_cursor_execute", _before):
        return
    event.listen(engine, "before_cursor_execute", _before)
    event.listen(engine, "after_cursor_execute", _after)
    event.listen(engine, "handle_error", _error)
