"""Dugout's Prometheus metrics on an injected registry, the /metrics endpoint and gunicorn hooks.

Event metrics (runs, stages, opportunities...) live on `DugoutMetrics`, created on a registry
handed in: one per app, a fresh one per test. State read from the database (freshness, breakers,
SLOs, strategy ROI) comes from `LedgerCollector` at scrape time (see collector.py), so every
gunicorn worker reports the same values without multiprocess gauges.
"""

from __future__ import annotations

import hmac
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from app.vocabulary import PIPELINE_STAGES, Pipeline, RunStatus, Stage

# Buckets from what the pipelines actually take: a demo tick is ~0.1-0.4 s, a slow source 5-20 s.
# 30 and 60 are SLO thresholds, so the histograms can answer "how many were under the line".
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DETECTION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 900.0)
LAG_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
CALLBACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class DugoutMetrics:
    """Every event metric Dugout records, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry, slo_names: Iterable[str] = ()) -> None:
        self.registry = registry
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = registry
        self.runs = Counter(
            "dugout_pipeline_runs",
            "Finished pipeline runs.",
            ["pipeline", "status", "trigger"],
            registry=r,
        )
        self.runs_in_progress = Gauge(
            "dugout_pipeline_runs_in_progress",
            "Runs started and not yet finished.",
            ["pipeline"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.run_duration = Histogram(
            "dugout_pipeline_run_duration_seconds",
            "Wall time of a pipeline run.",
            ["pipeline"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.stages = Counter(
            "dugout_pipeline_stages",
            "Finished stages by outcome.",
            ["pipeline", "stage", "status"],
            registry=r,
        )
        self.stage_duration = Histogram(
            "dugout_pipeline_stage_duration_seconds",
            "Wall time of a stage.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "dugout_pipeline_retries",
            "Runs that were a retry of an earlier run.",
            ["pipeline"],
            registry=r,
        )
        self.dispatch_lag = Histogram(
            "dugout_scheduler_dispatch_lag_seconds",
            "Scheduled tick to run start.",
            ["pipeline"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.missed_jobs = Counter(
            "dugout_scheduler_missed_jobs",
            "Ticks the scheduler missed (misfire).",
            ["job"],
            registry=r,
        )
        self.throttled_runs = Counter(
            "dugout_scheduler_throttled_runs",
            "Low-priority runs held back under load.",
            ["pipeline"],
            registry=r,
        )
        self.source_errors = Counter(
            "dugout_source_errors",
            "Source fetches that failed, by typed error.",
            ["source", "error_type"],
            registry=r,
        )
        self.quarantined = Counter(
            "dugout_quarantined_rows",
            "Rows that failed validation.",
            ["source", "reason"],
            registry=r,
        )
        self.opportunities = Counter(
            "dugout_opportunities_detected",
            "New opportunities stored.",
            ["strategy"],
            registry=r,
        )
        self.detection_latency = Histogram(
            "dugout_opportunity_detection_latency_seconds",
            "detected_at - data_available_at of each new opportunity.",
            ["strategy"],
            buckets=DETECTION_BUCKETS,
            registry=r,
        )
        self.value_identified = Counter(
            "dugout_value_identified_units",
            "Sum of EV x stake of new opportunities, in units.",
            ["strategy"],
            registry=r,
        )
        self.callback_duration = Histogram(
            "dugout_dash_callback_duration_seconds",
            "Dash callback latency, by callback.",
            ["callback"],
            buckets=CALLBACK_BUCKETS,
            registry=r,
        )
        self.alert_notifications = Counter(
            "dugout_alert_notifications",
            "Alert changes handed to the webhook queue, by outcome (delivered, failed, dropped).",
            ["outcome"],
            registry=r,
        )
        self.slo_events = Counter(
            "dugout_slo_events",
            "Events counted against each SLO, good or bad.",
            ["slo", "outcome"],
            registry=r,
        )
        for name in slo_names:  # present from the start, so rate() has both series at once
            for outcome in ("good", "bad"):
                self.slo_events.labels(name, outcome)
        for pipeline in Pipeline:  # every pipeline and stage of the vocabulary, at zero
            self.runs_in_progress.labels(pipeline.value)
            self.run_duration.labels(pipeline.value)
            self.retries.labels(pipeline.value)
            for stage in PIPELINE_STAGES[pipeline]:
                self.stages.labels(pipeline.value, stage.value, RunStatus.FAILED.value)
        for stage in Stage:
            self.stage_duration.labels(stage.value)

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once per label set: prometheus_client's labels()
        validates the values and takes the metric's lock on every call, several times a run."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def slo_event(self, slo: str, good: bool) -> None:
        """Count one event against an SLO."""
        self.child(self.slo_events, slo, "good" if good else "bad").inc()


class ProcessGauges:
    """CPU seconds and resident memory of each server process, for multiprocess mode.

    prometheus_client's ProcessCollector describes only the process that answers a scrape, and
    its docs rule it out with several workers. These gauges (mode `liveall`: one series per pid,
    gone when gunicorn marks the worker dead) are refreshed by a daemon thread in every process.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client.process_collector import ProcessCollector

        self._source = ProcessCollector(registry=None)
        self.cpu = Gauge(
            "dugout_process_cpu_seconds",
            "Total user and system CPU time of this server process, in seconds.",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.rss = Gauge(
            "dugout_process_resident_memory_bytes",
            "Resident memory of this server process, in bytes.",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self._stop = threading.Event()

    def sample(self) -> None:
        """Read /proc/self once and set both gauges."""
        for family in self._source.collect():
            if family.name == "process_cpu_seconds":
                self.cpu.set(family.samples[0].value)
            elif family.name == "process_resident_memory_bytes":
                self.rss.set(family.samples[0].value)

    def start(self, interval_s: float = 10.0) -> threading.Thread:
        """Sample now, then every `interval_s` on a daemon thread."""
        self.sample()

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.sample()

        thread = threading.Thread(target=loop, name="dugout-process-gauges", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """End the sampling thread."""
        self._stop.set()


def register_process_metrics(registry: CollectorRegistry, interval_s: float = 10.0) -> Any:
    """Process metrics on our registry: the standard process_* and python_* families in one
    process, per-process dugout_process_* gauges when several workers share the files."""
    if multiprocess_dir() is None:
        from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        return None
    gauges = ProcessGauges(registry)
    gauges.start(interval_s)
    return gauges


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR when set (gunicorn with several workers), else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def scrape_registry(app_registry: CollectorRegistry, extra: Iterable[Collector]) -> Any:
    """The registry one scrape reads: this process's own, or every worker's files merged."""
    path = multiprocess_dir()
    if path is None:
        return app_registry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()  # built per scrape, as prometheus_client's docs require
    MultiProcessCollector(registry, path=path)
    for collector in extra:
        registry.register(collector)
    return registry


class MetricsEndpoint:
    """WSGI middleware serving /metrics before Flask: no login, CSRF or page hooks apply,
    and the scrape itself is neither traced nor counted. A bearer token is required when set."""

    def __init__(
        self,
        wsgi_app: Callable[..., Any],
        registry: Callable[[], Any],
        token: str = "",
        path: str = "/metrics",
    ) -> None:
        self.wsgi_app, self.registry, self.token, self.path = wsgi_app, registry, token, path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != self.path:
            return self.wsgi_app(environ, start_response)
        if self.token and not self._authorised(environ.get("HTTP_AUTHORIZATION", "")):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", "Bearer")],
            )
            return [b"a bearer token is required for /metrics\n"]
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT") or "")
        body = encoder(self.registry())
        start_response(
            "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _authorised(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )


# --- gunicorn hooks: gunicorn.conf.py calls these ----------------------------------------------


def on_starting(server: Any = None) -> None:
    """gunicorn `on_starting`: start every deployment with an empty multiprocess directory."""
    path = multiprocess_dir()
    if path:
        shutil.rmtree(path, ignore_errors=True)
        Path(path).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn `child_exit`: mark a dead worker so its live gauges stop counting."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
