"""HTTP-side observability: prometheus-flask-exporter, the per-Dash-callback latency histogram,
and Dash callback spans renamed after the callback function (every callback is one route)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, g, request
from opentelemetry import trace
from werkzeug.exceptions import HTTPException

from app.extensions import CALLBACK_NAMES, DASH, HTTP_METRICS
from app.observability.metrics import HTTP_BUCKETS, DugoutMetrics

DASH_UPDATE = "/_dash-update-component"
UNKNOWN_CALLBACK = "unknown"


def url_rule(req: Any) -> str:
    """The route pattern of a request (bounded label values), or 'unmatched' for a 404."""
    rule = getattr(req, "url_rule", None)
    return rule.rule if rule is not None else "unmatched"


def init_http_metrics(app: Flask, metrics: DugoutMetrics) -> Any:
    """HTTP request counters and latency by method, route and status, on our registry."""
    from prometheus_flask_exporter import PrometheusMetrics

    exporter = PrometheusMetrics(
        app,
        path=None,  # /metrics is served by MetricsEndpoint, ahead of Flask
        registry=metrics.registry,
        group_by=url_rule,
        buckets=HTTP_BUCKETS,
        defaults_prefix="flask",
    )
    HTTP_METRICS.put(app, exporter)
    return exporter


class CallbackNames:
    """Maps a Dash callback's `output` id to 'module.function', read lazily from the Dash app."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._names: dict[str, str] = {}

    def resolve(self, output: Any) -> str:
        """The callback's name, or 'unknown' for an output no callback has (kept unlabelled)."""
        if not isinstance(output, str):
            return UNKNOWN_CALLBACK
        name = self._names.get(output)
        if name is not None:
            return name
        dash_app = DASH.find(self.app)
        entry = getattr(dash_app, "callback_map", {}).get(output) if dash_app else None
        fn = entry.get("callback") if isinstance(entry, dict) else None
        if fn is None:
            return UNKNOWN_CALLBACK  # not cached: arbitrary bodies must not grow the map
        fn = getattr(fn, "__wrapped__", fn)
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__name__', '?')}"
        self._names[output] = name
        return name


def init_request_observability(app: Flask, metrics: DugoutMetrics) -> None:
    """Hooks that time Dash callbacks and put the correlation id and callback on the span."""
    names = CallbackNames(app)
    CALLBACK_NAMES.put(app, names)

    @app.before_request
    def _observe_start() -> None:
        span = trace.get_current_span()
        cid = getattr(g, "correlation_id", None)
        if cid and span.is_recording():
            span.set_attribute("dugout.correlation_id", cid)
        if request.method == "POST" and request.path == DASH_UPDATE:
            g.dash_callback_started = time.perf_counter()

    @app.teardown_request
    def _observe_finish(exc: BaseException | None = None) -> None:
        # teardown (not after_request) also runs when the callback raised; ours runs before
        # the instrumentor's teardown, so the request span is still open here
        span = trace.get_current_span()
        started = g.pop("dash_callback_started", None)
        if started is not None:
            try:
                body = request.get_json(silent=True)  # Dash parsed it already; Flask caches it
            except HTTPException:  # a body over MAX_CONTENT_LENGTH was never read
                body = None
            name = names.resolve(body.get("output") if isinstance(body, dict) else None)
            metrics.callback_duration.labels(name).observe(time.perf_counter() - started)
            if span.is_recording():
                span.update_name(f"dash callback {name}")
                span.set_attribute("dash.callback", name)
        user = getattr(g.get("_login_user"), "username", None)  # only if auth loaded it
        if user and span.is_recording():
            span.set_attribute("enduser.id", user)
