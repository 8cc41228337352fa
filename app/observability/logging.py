"""JSON-lines logging with a correlation id carried in a context variable."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace as otel_trace

correlation_id_var: ContextVar[str | None] = ContextVar("dugout_correlation_id", default=None)
log_context_var: ContextVar[dict[str, Any] | None] = ContextVar("dugout_log_context", default=None)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def new_correlation_id() -> str:
    """A fresh random correlation id."""
    return uuid.uuid4().hex


def accept_correlation_id(raw: str | None) -> str:
    """The caller's X-Request-ID when it is a safe token, otherwise a fresh one."""
    if raw and _SAFE_ID.match(raw):
        return raw
    return new_correlation_id()


# Built once: json.dumps with any option builds a new encoder on every call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
_CORE = frozenset({"time", "level", "logger", "message", "correlation_id"})
_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _utc_iso_ms(created: float) -> str:
    """ISO 8601 UTC with milliseconds; the date and time part is formatted once per second."""
    global _second
    whole = int(created)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    millis = min(999, round((created - whole) * 1_000_000) // 1000)  # as datetime rounds
    return f"{cached[1]}.{millis:03d}+00:00"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values are JSON-escaped, so input cannot forge a field or line,
    and context or extras never replace the core fields (time, level, logger, message, id)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": _utc_iso_ms(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": correlation_id_var.get(),
        }
        span = otel_trace.get_current_span().get_span_context()
        if span.is_valid:  # the line joins its trace in Loki / ELK
            payload["trace_id"] = f"{span.trace_id:032x}"
            payload["span_id"] = f"{span.span_id:016x}"
        context = log_context_var.get()
        if context:
            for key, value in context.items():
                if key not in _CORE:
                    payload[key] = value
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in _CORE and key[0] != "_":
                payload[key] = value
        if record.exc_info:
            payload["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            payload["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(payload)


def configure_logging(level: str = "INFO", json_lines: bool = True, stream: Any = None) -> None:
    """Send every log line to stdout (or `stream`), as JSON lines unless told otherwise."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_dugout", False)), None)
    if (
        handler is not None
        and stream is not None
        and getattr(handler, "stream", None) is not stream
    ):
        root.removeHandler(handler)
        handler = None
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler._dugout = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.setLevel(level.upper())  # the console's level; other handlers may want more
    root.setLevel(level.upper())
    for noisy in ("werkzeug", "httpx", "httpcore", "apscheduler.executors", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
