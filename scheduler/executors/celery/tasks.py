"""The worker side of Celery: the one task, `dugout.run_pipeline`, and what each worker process
needs to run it (database, pipeline context, metrics, tracing).

A task may be delivered more than once (a worker died mid-run and Redis handed it out again
after the visibility timeout, or a killed pool process rejected it back to the queue). The run
id in the message decides what happens, with the ledger as the record:

- an attempt of this run (the row itself, or a redelivered attempt whose parent it is) already
  ended: nothing runs again, the task returns that attempt's result;
- another delivery is running it right now (it holds the run's lock in Redis, renewed while it
  runs): this delivery retries later;
- a row is still `running` but nobody holds the lock: that worker died. The row is marked
  `interrupted` and the run starts again as attempt n+1 whose parent is the original run id.

Worker metrics (prometheus multiprocess: the pool processes write, the main process serves
`/metrics` on DUGOUT_CELERY_METRICS_PORT) are the pipeline metrics a local run records plus
`dugout_celery_*` task counters, durations, queue wait and redeliveries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from celery.exceptions import Retry
from sqlalchemy import or_, select

from app.config import Settings, load_settings
from app.db import Database, utcnow
from app.models import PipelineRun
from app.pipelines.context import PipelineContext
from app.pipelines.ledger import (
    HEARTBEATS,
    DuplicateTick,
    Interruption,
    interrupt_runs,
    retry_run_id,
)
from app.pipelines.runner import PipelineResult, run_pipeline
from scheduler.executors.base import RunRequest
from scheduler.executors.celery.config import MESSAGE_VERSION, TASK_NAME, CeleryConfig

log = logging.getLogger("dugout.scheduler.celery")
UNFINISHED = ("running", "interrupted")
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0)


# --- the message ----------------------------------------------------------------------------


def request_to_message(request: RunRequest, sent_at: datetime | None = None) -> dict[str, Any]:
    """The JSON message for one run (format documented in scheduler/executors/celery/config.py)."""
    return {
        "v": MESSAGE_VERSION,
        "run_id": str(request.run_id),
        "pipeline": request.pipeline,
        "trigger": request.trigger,
        "scheduled_for": request.scheduled_for.isoformat() if request.scheduled_for else None,
        "actor": request.actor,
        "params": dict(request.params),
        "correlation_id": request.correlation_id,
        "attempt": request.attempt,
        "parent_run_id": str(request.parent_run_id) if request.parent_run_id else None,
        "priority": request.priority,
        "sent_at": (sent_at or utcnow()).isoformat(),
    }


def message_to_request(message: dict[str, Any]) -> RunRequest:
    """The RunRequest a message describes; refuses versions this code does not know."""
    if message.get("v") != MESSAGE_VERSION:
        raise ValueError(f"unknown run message version {message.get('v')!r}")
    scheduled = message.get("scheduled_for")
    parent = message.get("parent_run_id")
    return RunRequest.build(
        message["pipeline"],
        run_id=uuid.UUID(message["run_id"]),
        trigger=message.get("trigger") or "manual",
        scheduled_for=datetime.fromisoformat(scheduled) if scheduled else None,
        actor=message.get("actor"),
        params=dict(message.get("params") or {}),
        correlation_id=message.get("correlation_id"),
        attempt=int(message.get("attempt") or 1),
        parent_run_id=uuid.UUID(parent) if parent else None,
        priority=message.get("priority") or "default",
    )


def result_to_dict(result: PipelineResult) -> dict[str, Any]:
    """A PipelineResult as the task's JSON return value."""
    return {
        "run_id": str(result.run_id),
        "pipeline": result.pipeline,
        "status": result.status,
        "summary": result.summary,
        "error": result.error,
        "duplicate": result.duplicate,
    }


def dict_to_result(data: dict[str, Any]) -> PipelineResult:
    """The PipelineResult a task returned."""
    return PipelineResult(
        uuid.UUID(data["run_id"]),
        data["pipeline"],
        data["status"],
        dict(data.get("summary") or {}),
        data.get("error"),
        bool(data.get("duplicate")),
    )


# --- worker process state -------------------------------------------------------------------


class CeleryWorkerMetrics:
    """Task-level metrics of a Celery worker, beside the pipeline metrics of its runs."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.tasks = Counter(
            "dugout_celery_tasks",
            "Run tasks handled by this worker, by queue and outcome.",
            ["queue", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "dugout_celery_task_duration_seconds",
            "Wall time of a run task in the worker.",
            ["queue"],
            buckets=TASK_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "dugout_celery_queue_wait_seconds",
            "Published to started, per queue.",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.redeliveries = Counter(
            "dugout_celery_redeliveries",
            "Run tasks delivered again after a worker was lost.",
            ["queue"],
            registry=registry,
        )
        self.in_progress = Gauge(
            "dugout_celery_tasks_in_progress",
            "Run tasks executing now.",
            ["queue"],
            registry=registry,
            multiprocess_mode="livesum",
        )


class WorkerRuntime:
    """One per worker process: settings, database, pipeline context with the same observers
    a web worker's runs have, metrics and a Redis client for run locks."""

    def __init__(self, settings: Settings) -> None:
        import redis
        from prometheus_client import CollectorRegistry

        from app.observability import setting
        from app.observability.alerts import evaluate
        from app.observability.metrics import DugoutMetrics
        from app.observability.observer import AlertingObserver, MetricsObserver
        from app.observability.slo import SLOS
        from app.observability.tracing import process_provider
        from app.pipelines.build import build_context

        self.settings = settings
        self.config = CeleryConfig.from_settings(settings)
        from scheduler.config import SchedulerConfig

        HEARTBEATS.configure(SchedulerConfig.from_settings(settings).run_heartbeat_s)
        self.db = Database(settings.resolved_database_url)
        assert self.db.sessionmaker is not None
        self.sessions = self.db.sessionmaker
        from app.observability.run_logs import install_run_logs

        install_run_logs(self.sessions, settings)  # each run's lines for its page
        self.registry = CollectorRegistry()
        self.metrics = DugoutMetrics(self.registry, slo_names=[s.name for s in SLOS])
        self.worker_metrics = CeleryWorkerMetrics(self.registry)
        sessions = self.sessions
        observers: list[Any] = [
            MetricsObserver(self.metrics, sessions, bankroll_units=settings.bankroll_units)
        ]
        interval = float(setting(settings, "slo_evaluate_interval_s"))
        if interval > 0:
            observers.append(
                AlertingObserver(lambda now: evaluate(sessions, now, None), interval_s=interval)
            )
        from scheduler.alerts import AlertBook
        from scheduler.resilience import source_breakers

        self.context: PipelineContext = build_context(
            settings,
            sessions,
            observers=observers,
            breakers=source_breakers(sessions, settings),
            alerts=AlertBook(sessions),
        )
        self.redis = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=self.config.connect_timeout_s,
            socket_timeout=max(5.0, self.config.connect_timeout_s),
        )
        provider, _ = process_provider()
        with contextlib.suppress(ImportError):
            from opentelemetry.instrumentation.celery import CeleryInstrumentor

            instrumentor = CeleryInstrumentor()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(tracer_provider=provider)

    def close(self) -> None:
        """Release connections (worker process shutdown)."""
        self.db.dispose()
        self.redis.close()


_runtime: dict[int, WorkerRuntime] = {}  # by pid: a forked child never uses its parent's
_runtime_lock = threading.Lock()


def runtime() -> WorkerRuntime:
    """This process's WorkerRuntime, built on first use from the DUGOUT_* environment."""
    pid = os.getpid()
    with _runtime_lock:
        if pid not in _runtime:
            _runtime.clear()
            _runtime[pid] = WorkerRuntime(load_settings())
        return _runtime[pid]


def prepare_worker_process() -> None:
    """Before anything imports prometheus_client: pick the multiprocess metrics directory."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = Path(os.environ.get("DUGOUT_VAR_DIR", "./var")).resolve()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(base / f"celery-metrics-{os.getpid()}")


# --- run lock: who is running a run right now ----------------------------------------------


def run_lock_key(run_id: uuid.UUID | str) -> str:
    """The Redis key a delivery holds while it runs `run_id` (any attempt it runs under it)."""
    return f"dugout:run:{run_id}"


class RunLock:
    """A Redis lock on one run id, renewed every third of its TTL while the run goes."""

    def __init__(self, client: Any, run_id: uuid.UUID, ttl_s: float) -> None:
        self.lock = client.lock(run_lock_key(run_id), timeout=ttl_s, thread_local=False)
        self.ttl_s = ttl_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting and keep renewing it; False when someone holds it."""
        if not self.lock.acquire(blocking=False):
            return False
        self._thread = threading.Thread(target=self._renew, name="dugout-run-lock", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self.lock.reacquire()
            except Exception:  # Redis went away: the run goes on; a duplicate is still fenced
                log.warning("could not renew the run lock", exc_info=True)

    def release(self) -> None:
        """Stop renewing and let go."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(Exception):
            self.lock.release()


# --- the task -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempts:
    """What the ledger knows of a run id: an attempt that ended, and attempts left running."""

    finished: PipelineRun | None
    unfinished: list[PipelineRun]


def attempts_of(sessions: Any, run_id: uuid.UUID) -> Attempts:
    """The run's own row and the rows of its redelivered attempts, newest last."""
    with sessions() as session:
        rows = list(
            session.scalars(
                select(PipelineRun)
                .where(or_(PipelineRun.id == run_id, PipelineRun.parent_run_id == run_id))
                .order_by(PipelineRun.created_at)
            ).all()
        )
    finished = [r for r in rows if r.status not in UNFINISHED]
    return Attempts(finished[-1] if finished else None, [r for r in rows if r not in finished])


def _row_result(row: PipelineRun) -> dict[str, Any]:
    return {
        "run_id": str(row.id),
        "pipeline": row.pipeline,
        "status": row.status,
        "summary": row.summary or {},
        "error": row.error_message,
        "duplicate": True,
    }


@contextlib.contextmanager
def _trace_parent(headers: dict[str, Any]) -> Iterator[None]:
    """Run under the producer's trace when no instrumentation has attached it already."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    from app.observability.tracing import extract_context

    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    carrier = {k: str(v) for k, v in headers.items() if k in {"traceparent", "tracestate"} and v}
    token = otel_context.attach(extract_context(carrier)) if carrier else None
    try:
        yield
    finally:
        if token is not None:
            otel_context.detach(token)


def execute_message(task: Any, message: dict[str, Any]) -> dict[str, Any]:
    """Run the message's pipeline once per run id (see the module docstring)."""
    rt = runtime()
    request = message_to_request(message)
    queue = "critical" if request.priority == "critical" else "default"
    m = rt.worker_metrics
    delivery = getattr(task.request, "delivery_info", None) or {}
    if delivery.get("redelivered"):
        m.redeliveries.labels(queue).inc()
    lock = RunLock(rt.redis, request.run_id, rt.config.run_lock_ttl_s)
    if not lock.acquire():
        m.tasks.labels(queue, "busy").inc()
        log.info("run is going on elsewhere; retrying", extra={"run_id": str(request.run_id)})
        raise task.retry(countdown=rt.config.run_lock_ttl_s, max_retries=None)
    started = time.perf_counter()
    m.in_progress.labels(queue).inc()
    try:
        if message.get("sent_at"):
            waited = (utcnow() - datetime.fromisoformat(message["sent_at"])).total_seconds()
            m.queue_wait.labels(queue).observe(max(0.0, waited))
        seen = attempts_of(rt.sessions, request.run_id)
        if seen.finished is not None:
            m.tasks.labels(queue, "duplicate").inc()
            log.info("run already ended; not run again", extra={"run_id": str(request.run_id)})
            return _row_result(seen.finished)
        others = [r.id for r in seen.unfinished if r.id != request.run_id]
        if any(rt.redis.exists(run_lock_key(i)) for i in others):
            # an attempt is going on under a delivery of its own (the leader retried this run
            # while this message waited for redelivery): it is alive, not lost
            m.tasks.labels(queue, "busy").inc()
            log.info("an attempt is going on elsewhere", extra={"run_id": str(request.run_id)})
            raise task.retry(countdown=rt.config.run_lock_ttl_s, max_retries=None)
        if seen.unfinished:
            interrupt_runs(
                rt.sessions,
                Interruption("WorkerLost", "the Celery worker running it was lost; redelivered"),
                utcnow(),
                ids=[r.id for r in seen.unfinished if r.status == "running"],
            )
            attempt = max(r.attempt for r in seen.unfinished) + 1
            request = replace(
                request,
                run_id=retry_run_id(request.run_id, attempt),
                attempt=attempt,
                parent_run_id=request.run_id,
                scheduled_for=None,
            )
        try:
            result = _run(rt, request, dict(getattr(task.request, "headers", None) or {}), task)
        except DuplicateTick as exc:
            m.tasks.labels(queue, "duplicate_tick").inc()
            return {"duplicate_tick": True, "error": str(exc), "run_id": str(request.run_id)}
        m.tasks.labels(queue, result.status).inc()
        return result_to_dict(result)
    except Retry:
        raise
    except Exception:
        m.tasks.labels(queue, "error").inc()
        raise
    finally:
        m.in_progress.labels(queue).dec()
        m.duration.labels(queue).observe(time.perf_counter() - started)
        lock.release()


def _run(rt: WorkerRuntime, request: RunRequest, headers: dict[str, Any], task: Any) -> Any:
    ctx = rt.context
    # Celery copies custom message headers onto the request itself, not into .headers
    for key in ("traceparent", "tracestate"):
        value = getattr(task.request, key, None)
        if value and key not in headers:
            headers[key] = value
    with _trace_parent(headers):
        return run_pipeline(
            ctx,
            request.pipeline,
            request.trigger,
            scheduled_for=request.scheduled_for,
            actor=request.actor,
            params=request.params,
            correlation_id=request.correlation_id,
            run_id=request.run_id,
            attempt=request.attempt,
            parent_run_id=request.parent_run_id,
        )


# --- registration and worker signals --------------------------------------------------------

_signals: list[bool] = []


def register_tasks(app: Any) -> None:
    """Register `dugout.run_pipeline` on `app` and, once per process, the worker signals."""

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
    def run_pipeline_task(self: Any, message: dict[str, Any]) -> dict[str, Any]:
        """One pipeline run (message format in scheduler/executors/celery/config.py)."""
        return execute_message(self, message)

    if not _signals:
        _connect_signals()
        _signals.append(True)


def _connect_signals() -> None:
    from celery import signals

    signals.worker_init.connect(_on_worker_init, weak=False)
    signals.worker_process_init.connect(_on_process_init, weak=False)
    signals.worker_process_shutdown.connect(_on_process_shutdown, weak=False)


def _on_worker_init(**_: Any) -> None:
    """Main worker process: an empty metrics directory, then /metrics on the metrics port."""
    config = CeleryConfig.from_settings(load_settings())
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        Path(path).mkdir(parents=True, exist_ok=True)
    if config.metrics_port:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        if path:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(registry, path=path)
        start_http_server(config.metrics_port, registry=registry)
        log.info("worker metrics on :%d/metrics", config.metrics_port)


def _on_process_init(**_: Any) -> None:
    """Each pool process builds its runtime at once (first tasks then pay nothing)."""
    runtime()


def _on_process_shutdown(pid: int | None = None, **_: Any) -> None:
    """A pool process ends: close its connections and mark its live gauges dead."""
    rt = _runtime.pop(os.getpid(), None)
    if rt is not None:
        rt.close()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
