"""Per-request correlation id (X-Request-ID in, echoed out) and the caller's identity for audits."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from app.observability.logging import accept_correlation_id, correlation_id_var

log = logging.getLogger("dugout.http")


def init_request_context(app: Flask) -> None:
    """Register the hooks that give every request a correlation id and an access log line."""

    @app.before_request
    def _start() -> None:
        g.correlation_id = accept_correlation_id(request.headers.get("X-Request-ID"))
        g.request_started = time.perf_counter()
        correlation_id_var.set(g.correlation_id)

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        # a worker thread's later log lines (a background job it starts, the next request's
        # first lines) must not carry this request's id
        correlation_id_var.set(None)

    @app.after_request
    def _finish(response: Response) -> Response:
        cid = getattr(g, "correlation_id", None)
        if cid:
            response.headers["X-Request-ID"] = cid
        started = getattr(g, "request_started", None)
        if started is not None and not request.path.startswith(
            ("/_dash-component-suites", "/assets")
        ):
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user": _username(),
                },
            )
        return response


def _username() -> str | None:
    from flask_login import current_user

    return getattr(current_user, "username", None) if has_request_context() else None


def request_meta() -> dict[str, Any]:
    """Source IP, user agent and correlation id of the current request, for audit records."""
    if not has_request_context():
        return {"source_ip": None, "user_agent": None, "correlation_id": correlation_id_var.get()}
    return {
        "source_ip": request.remote_addr,
        "user_agent": (request.user_agent.string or "")[:255] or None,
        "correlation_id": getattr(g, "correlation_id", None),
    }
