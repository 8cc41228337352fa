"""Client spans for outgoing httpx requests, with secrets kept out of every attribute.

Not opentelemetry-instrumentation-httpx's global patch: that records `url.full` as sent, and
the Odds API takes its key as a query parameter. This transport wraps a client's transport
ABOVE the one that adds the key (see sources/http_json.py), so the URL it sees has no key; a
query parameter or userinfo that looks like a credential is redacted anyway, and so is any
such value in an exception message. Trace context goes out in `traceparent`.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

REDACTED = "REDACTED"
SECRET_NAMES = re.compile(
    r"(?i)^(api[_-]?key|apikey|key|token|access[_-]?token|secret|password|passwd|sig|signature)$"
)
_SECRET_IN_TEXT = re.compile(
    r"(?i)([?&;](?:api[_-]?key|apikey|key|token|access[_-]?token|secret|password|passwd|sig"
    r"|signature)=)[^&\s'\"]+"
)
_USERINFO = re.compile(r"(?i)(https?://)[^/@\s]+@")
_TRACER = trace.get_tracer("dugout.http")


def redact_url(url: httpx.URL) -> str:
    """The URL as text, with credentials (userinfo, secret-looking parameters) replaced."""
    params = [
        (name, REDACTED if SECRET_NAMES.match(name) else value)
        for name, value in url.params.multi_items()
    ]
    clean = url.copy_with(username=None, password=None, params=params or None)
    return str(clean)


def redact_text(text: str) -> str:
    """`text` with any URL credential or secret-looking query value replaced."""
    return _USERINFO.sub(r"\1", _SECRET_IN_TEXT.sub(rf"\1{REDACTED}", text))


class TracedTransport(httpx.BaseTransport):
    """Wraps a transport: one CLIENT span per request (HTTP semantic conventions, stable)."""

    def __init__(self, inner: httpx.BaseTransport, *, peer: str | None = None) -> None:
        self._inner = inner
        self._peer = peer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` inside a span that records method, redacted URL, status and errors."""
        url = request.url
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "url.full": redact_url(url),
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }
        if self._peer:
            attributes["peer.service"] = self._peer
        with _TRACER.start_as_current_span(
            request.method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            propagate.inject(request.headers)
            try:
                response = self._inner.handle_request(request)
            except Exception as exc:
                message = redact_text(str(exc))
                span.set_attribute("error.type", type(exc).__qualname__)
                span.add_event(
                    "exception",
                    {"exception.type": type(exc).__qualname__, "exception.message": message},
                )
                span.set_status(Status(StatusCode.ERROR, message[:500]))
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(Status(StatusCode.ERROR))
            return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()
