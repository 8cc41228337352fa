"""Observability wiring: metrics, tracing, SLO alerts, readiness extras and the JSON API.

Imports stay inside `init_observability`: prometheus_client picks single- or multi-process mode
when first imported, so nothing here may import it before PROMETHEUS_MULTIPROC_DIR is settled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flask import Flask

from app.config import env_value
from app.extensions import METRICS, OBSERVABILITY, PROCESS_METRICS

# The observability knobs and their defaults: DUGOUT_<NAME>, read by the settings' rule set.
KNOBS: dict[str, Any] = {
    "alert_webhook_url": "",
    "alert_queue_size": 100,
    "metrics_ledger_ttl_s": 15.0,
    "process_metrics_interval_s": 10.0,
    "scheduler_stale_after_s": 30.0,
    "slo_evaluate_interval_s": 60.0,
    "tracing_enabled": True,
}
_KNOB = object()


def setting(settings: Any, name: str, default: Any = _KNOB) -> Any:
    """A Settings field, else settings.extra[name], else DUGOUT_<NAME>, else the default (the
    knob's own, from KNOBS, unless one is given)."""
    if default is _KNOB:
        default = KNOBS[name]
    if hasattr(settings, name):
        return getattr(settings, name)
    extra = getattr(settings, "extra", None) or {}
    if name in extra:
        return extra[name]
    if default is None:
        return os.environ.get(f"DUGOUT_{name.upper()}")
    return env_value(name, default)


def check_settings(settings: Any) -> None:
    """Read every knob once, so a bad value stops the start (ConfigError naming it)."""
    for name in KNOBS:
        setting(settings, name)


@dataclass(frozen=True, slots=True)
class Observability:
    """What init_observability built, kept in the OBSERVABILITY slot."""

    metrics: Any  # DugoutMetrics
    ledger: Any  # LedgerCollector
    observer: Any  # MetricsObserver
    notifier: Any  # AlertDelivery | None

    def evaluate_alerts(self, app: Flask, now: Any = None) -> Any:
        """Evaluate the SLO alerts now (the scheduler can run this as a job)."""
        from app.db import get_db
        from app.observability.alerts import evaluate
        from app.pipelines.context import system_clock

        sessions = get_db(app).sessionmaker
        assert sessions is not None
        return evaluate(sessions, now or system_clock(), self.notifier)


def init_observability(app: Flask, settings: Any) -> None:
    """Metrics, tracing and alerting; call before auth so refusals are counted and traced.
    The app's wiring (create_app) adds the readiness checks and the JSON API."""
    if OBSERVABILITY.find(app) is not None:
        return
    from prometheus_client import CollectorRegistry

    from app.db import get_db
    from app.observability.alerts import AlertDelivery, WebhookNotifier, evaluate
    from app.observability.collector import LedgerCollector
    from app.observability.metrics import (
        DugoutMetrics,
        MetricsEndpoint,
        multiprocess_dir,
        register_process_metrics,
        scrape_registry,
    )
    from app.observability.observer import AlertingObserver, MetricsObserver, register_observer
    from app.observability.slo import SLOS
    from app.observability.tracing import init_tracing
    from app.observability.web import init_http_metrics, init_request_observability

    sessions = get_db(app).sessionmaker
    assert sessions is not None
    registry = setting(settings, "metrics_registry", None) or CollectorRegistry()
    metrics = DugoutMetrics(registry, slo_names=[s.name for s in SLOS])
    ledger = LedgerCollector(sessions, ttl_s=float(setting(settings, "metrics_ledger_ttl_s")))
    if multiprocess_dir() is None:
        registry.register(ledger)  # multiprocess: added to each scrape's fresh registry instead
    interval_s = float(setting(settings, "process_metrics_interval_s"))
    PROCESS_METRICS.put(app, register_process_metrics(registry, interval_s=interval_s))

    if setting(settings, "tracing_enabled"):
        init_tracing(app, settings)  # first, so the hooks below run inside the request span
    init_http_metrics(app, metrics)
    init_request_observability(app, metrics)
    app.wsgi_app = MetricsEndpoint(  # type: ignore[method-assign]
        app.wsgi_app, lambda: scrape_registry(registry, [ledger]), token=settings.metrics_token
    )

    observer = MetricsObserver(metrics, sessions, bankroll_units=settings.bankroll_units)
    register_observer(app, observer)
    url = setting(settings, "alert_webhook_url")
    notifier = (
        AlertDelivery(
            WebhookNotifier(url),
            maxsize=int(setting(settings, "alert_queue_size")),
            on_outcome=lambda outcome: metrics.alert_notifications.labels(outcome).inc(),
        )
        if url
        else None
    )
    interval = float(setting(settings, "slo_evaluate_interval_s"))
    if interval > 0:
        register_observer(
            app,
            AlertingObserver(lambda now: evaluate(sessions, now, notifier), interval_s=interval),
        )

    METRICS.put(app, metrics)
    OBSERVABILITY.put(app, Observability(metrics, ledger, observer, notifier))
