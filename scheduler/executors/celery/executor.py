"""CeleryExecutor: the TaskExecutor that publishes one task per run to Redis and waits for its
result, so the scheduler's retries, breakers and chains work exactly as with local runs.

Publishing fails fast when Redis is down: the run is written to the ledger as failed with the
reason, an alert fires (with the command that switches to local execution), and the returned
future holds the failed result, so the dispatcher retries it like any failed run.
Results arrive by Redis pub/sub (the result backend publishes each one) with a slow poll as
a safety net; a task that failed outside the runner (hard time limit, worker error) or expired
in the queue has its ledger row closed here, so no run stays `running` for ever.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.db import utcnow
from app.models import PipelineRun
from app.observability.tracing import inject_headers
from app.pipelines.ledger import (
    DuplicateTick,
    Interruption,
    RunOpening,
    fail_unfinished,
    record_failed_run,
)
from app.pipelines.runner import PipelineResult
from scheduler.alerts import AlertBook
from scheduler.executors.base import RunAbandoned, RunRequest, TaskExecutor
from scheduler.executors.celery.config import TASK_NAME, CeleryConfig, queue_for
from scheduler.executors.celery.tasks import dict_to_result, request_to_message, run_lock_key
from scheduler.executors.routed import ExecutorSwitch

log = logging.getLogger("dugout.scheduler.celery")
BROKER_ALERT = "executor:broker_unreachable"
WORKER_ALERT = "executor:no_worker"  # runs queued, none finished: no worker is taking them
UNTAKEN = ("TaskExpired", "ResultTimeout")
SWITCH_HINT = (
    "Switch to local execution with `dugout executor local --reason ...` "
    "(or the admin panel's executor command); switch back with `dugout executor configured`."
)


RECHECK_S = 30.0  # good news resolves an alert another process raised within this long
LEDGER_POLL_S = 2.0  # how often the ledger is asked whether an awaited run was declared lost


class BrokerUnavailable(RuntimeError):
    """The run could not be handed to Celery (Redis unreachable)."""


class _AlertClearer:
    """Resolves alert `key` on good news: at once after this process raised it, and otherwise
    at most every RECHECK_S (another process may have raised it), so the happy path stays free
    of database reads."""

    def __init__(self, alerts: AlertBook, key: str, monotonic: Callable[[], float]) -> None:
        self.alerts = alerts
        self.key = key
        self.monotonic = monotonic
        self._next = 0.0

    def good_news(self) -> None:
        now = self.monotonic()
        if now >= self._next:
            self._next = now + RECHECK_S
            self.alerts.resolve(self.key)

    def raised(self) -> None:
        self._next = 0.0


@dataclass(slots=True)
class _Waiting:
    request: RunRequest
    future: Future[PipelineResult]
    deadline: float
    started_at: float | None = None  # a worker reported the task STARTED (monotonic)
    following: bool = False  # another delivery runs this run id: its ledger row decides


FOLLOW_LEDGER = object()  # settle(): the run id is another delivery's; wait for its row


class CeleryExecutor(TaskExecutor):
    """Runs pipelines on Celery workers: queue `critical` for collection, `default` otherwise."""

    def __init__(
        self,
        celery_app: Any,
        sessions: sessionmaker[Session],
        *,
        config: CeleryConfig | None = None,
        alerts: AlertBook | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.app = celery_app
        self.sessions = sessions
        self.config = config or celery_app.conf.get("dugout_config") or CeleryConfig()
        self.alerts = alerts or AlertBook(sessions, clock)
        self.clock = clock
        self.monotonic = monotonic
        self._broker_ok = _AlertClearer(self.alerts, BROKER_ALERT, lambda: self.monotonic())
        self._worker_ok = _AlertClearer(self.alerts, WORKER_ALERT, lambda: self.monotonic())
        self.watcher = ResultWatcher(self, self.config.result_poll_s)

    def _execute(self, request: RunRequest) -> Future[PipelineResult]:
        future = self.watcher.watch(request, self.monotonic() + self.config.wait_s)
        try:
            self.app.send_task(
                TASK_NAME,
                args=[request_to_message(request, self.clock())],
                task_id=str(request.run_id),
                queue=queue_for(request.priority),
                headers=inject_headers(),
                expires=self.config.expires_s,
            )
        except Exception as exc:  # kombu OperationalError and friends: Redis is not there
            self.watcher.forget(request.run_id)
            return self._dispatch_failed(request, exc)
        self._broker_ok.good_news()
        return future

    def _dispatch_failed(self, request: RunRequest, exc: Exception) -> Future[PipelineResult]:
        """Ledger row failed with the reason, an alert, and a failed result (never silent)."""
        broker = _safe_url(self.app.conf.broker_url)
        reason = f"could not queue the run on Celery at {broker}: {type(exc).__name__}: {exc}"
        log.error("run dispatch failed", extra={"run_id": str(request.run_id), "why": reason})
        self._broker_ok.raised()
        self.alerts.raise_(
            BROKER_ALERT,
            "Celery broker unreachable: pipeline runs cannot be dispatched",
            f"{reason}. {SWITCH_HINT}",
            severity="page",
            labels={"broker": broker},
        )
        future: Future[PipelineResult] = Future()
        try:
            record_failed_run(
                self.sessions,
                opening_of(request),
                Interruption("BrokerUnavailable", reason),
                self.clock(),
            )
        except DuplicateTick as dup:
            future.set_exception(dup)
            return future
        future.set_result(PipelineResult(request.run_id, request.pipeline, "failed", {}, reason))
        return future

    def lost_before_open(self, request: RunRequest) -> PipelineResult | None:
        """A worker took the run and died before it opened the run's row: recorded as
        interrupted (so it is retried, and its late redelivery finds that attempt instead of
        running again); None when a row appeared meanwhile."""
        reason = "the Celery worker that took the run was lost before it opened the run"
        try:
            record_failed_run(
                self.sessions,
                opening_of(request),
                Interruption("WorkerLost", reason),
                self.clock(),
                status="interrupted",
            )
        except DuplicateTick:
            return None
        log.warning("run lost before it opened", extra={"run_id": str(request.run_id)})
        return PipelineResult(request.run_id, request.pipeline, "interrupted", {}, reason)

    def settle(self, request: RunRequest, meta: dict[str, Any]) -> Any:
        """Turn a final task state into the run's result, closing its ledger row if needed."""
        status = meta.get("status")
        if status == "SUCCESS":
            self._worker_ok.good_news()  # a worker is taking runs (again)
            data = meta.get("result") or {}
            if data.get("duplicate_tick") and request.parent_run_id is not None:
                return FOLLOW_LEDGER  # a redelivery opened this very attempt: it runs there
            if data.get("duplicate_tick"):
                return DuplicateTick(data.get("error") or "this tick already has a run")
            return dict_to_result(data)
        if status == "REVOKED":
            reason = (
                f"no Celery worker took the run within {self.config.expires_s:.0f} s "
                "(expired in the queue)"
            )
            error_type = "TaskExpired"
        else:
            exc = meta.get("result") or {}
            error_type = str(exc.get("exc_type") or status or "TaskFailed")[:128]
            reason = f"the Celery task failed: {error_type}: {exc.get('exc_message') or ''}"
        return self._close(request, error_type, reason)

    def expire(self, request: RunRequest) -> PipelineResult:
        """No final state arrived in time: the run is failed here so nobody waits for ever."""
        return self._close(
            request, "ResultTimeout", f"no result from Celery within {self.config.wait_s:.0f} s"
        )

    def _close(self, request: RunRequest, error_type: str, reason: str) -> PipelineResult:
        close_run(self.sessions, request, error_type, reason, self.clock())
        if error_type in UNTAKEN and not self._switched_to_local():
            # queued fine, never run: the workers are down or saturated (once an operator has
            # switched to local, runs still waiting on Celery time out without paging again)
            self._worker_ok.raised()
            queue = queue_for(request.priority)
            self.alerts.raise_(
                WORKER_ALERT,
                "No Celery worker is running pipeline runs",
                f"Run {request.run_id} ({request.pipeline}) waited on queue {queue!r}: {reason}. "
                f"Start workers (`dugout worker --celery`) or switch executors. {SWITCH_HINT}",
                severity="page",
                labels={"queue": queue},
            )
        return PipelineResult(request.run_id, request.pipeline, "failed", {}, reason)

    def _switched_to_local(self) -> bool:
        return ExecutorSwitch(self.sessions, ttl_s=0.0).override() == "local"

    def _shutdown(self, wait: bool) -> None:
        if wait:
            self.watcher.wait_all(self.config.result_poll_s * 4)
        self.watcher.stop("this process stopped waiting; the run goes on in Celery")

    def _drain(self, timeout_s: float) -> list[RunRequest]:
        self.watcher.wait_all(timeout_s)
        self.watcher.stop("this process stopped waiting; the run goes on in Celery")
        return []  # nothing is lost: the runs are on Celery workers, not in this process


class ResultWatcher:
    """One thread per executor: pub/sub on the result keys, a slow MGET poll, deadlines."""

    def __init__(self, executor: CeleryExecutor, poll_s: float) -> None:
        self.executor = executor
        self.poll_s = poll_s
        self.backend = executor.app.backend
        self.prefix = _text(getattr(self.backend, "task_keyprefix", "celery-task-meta-"))
        self._waiting: dict[str, _Waiting] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_ledger = 0.0

    def watch(self, request: RunRequest, deadline: float) -> Future[PipelineResult]:
        """A future that ends with the run's result (registered before the task is sent)."""
        future: Future[PipelineResult] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._waiting[str(request.run_id)] = _Waiting(request, future, deadline)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="dugout-celery-results", daemon=True
                )
                self._thread.start()
        return future

    def forget(self, run_id: uuid.UUID) -> None:
        """Stop waiting for a run that was never sent."""
        with self._lock:
            self._waiting.pop(str(run_id), None)

    def wait_all(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for every awaited result."""
        with self._lock:
            futures = [w.future for w in self._waiting.values()]
        wait_futures(futures, timeout=max(0.0, timeout_s))

    def stop(self, reason: str) -> None:
        """End the thread; futures still open end with RunAbandoned (the runs go on)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            left, self._waiting = list(self._waiting.values()), {}
        for w in left:
            _finish(w.future, RunAbandoned(w.request.run_id, reason))

    def _run(self) -> None:
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.backend.client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(f"{self.prefix}*")
                self._poll()
                next_poll = time.monotonic() + self.poll_s
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=min(self.poll_s, 0.2))
                    if message and message.get("type") == "pmessage":
                        channel = _text(message["channel"])
                        self._deliver(channel[len(self.prefix) :], message["data"])
                    if time.monotonic() >= next_poll:
                        self._poll()
                        next_poll = time.monotonic() + self.poll_s
            except Exception:
                log.warning("result watcher lost Redis; reconnecting", exc_info=True)
                self._expire_overdue()
                self._stop.wait(self.poll_s)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        log.debug("pubsub close failed", exc_info=True)

    def _poll(self) -> None:
        """Fetch every awaited result key at once (covers pub/sub messages missed)."""
        with self._lock:
            ids = list(self._waiting)
        if ids:
            values = self.backend.client.mget([f"{self.prefix}{i}" for i in ids])
            for task_id, raw in zip(ids, values, strict=True):
                if raw is not None:
                    self._deliver(task_id, raw)
        self._expire_overdue()
        if ids and time.monotonic() >= self._next_ledger:
            self._next_ledger = time.monotonic() + LEDGER_POLL_S
            self._settle_lost(ids)

    def _settle_lost(self, ids: list[str]) -> None:
        """Awaited runs the ledger says are over for this wait: declared lost by the leader
        (their worker died, no attempt retries them yet), lost by a worker before it opened
        the row, or run by another delivery that took this attempt's id. Whoever waits then
        retries (or follows) them instead of waiting an hour."""
        child = aliased(PipelineRun)
        try:
            with self.executor.sessions() as session:
                rows = {
                    str(r.id): r
                    for r in session.execute(
                        select(
                            PipelineRun.id,
                            PipelineRun.pipeline,
                            PipelineRun.status,
                            PipelineRun.summary,
                            PipelineRun.error_message,
                            exists().where(child.parent_run_id == PipelineRun.id).label("retried"),
                        ).where(PipelineRun.id.in_([uuid.UUID(i) for i in ids]))
                    ).all()
                }
        except Exception:  # the database is down: the result poll goes on
            log.warning("could not read the ledger for awaited runs", exc_info=True)
            return
        for run_id in ids:
            with self._lock:
                waiting = self._waiting.get(run_id)
            if waiting is None:
                continue
            row = rows.get(run_id)
            outcome = self._ledger_outcome(waiting, row)
            if outcome is None:
                continue
            with self._lock:
                if self._waiting.pop(run_id, None) is None:
                    continue
            _finish(waiting.future, outcome)

    def _ledger_outcome(self, waiting: _Waiting, row: Any) -> PipelineResult | None:
        """The result the ledger gives an awaited run now, or None (keep waiting)."""
        request = waiting.request
        if row is None:
            return None if waiting.following else self._maybe_lost_before_open(waiting)
        if waiting.following and row.status not in ("queued", "running"):
            return PipelineResult(
                request.run_id, row.pipeline, row.status, dict(row.summary or {}), row.error_message
            )
        if row.status == "interrupted" and not row.retried:
            if self._delivery_alive(request.run_id):
                # a redelivery holds the run's lock: it closed the lost attempt and is about to
                # open the retry (two commits); its task result will say how the retry went
                return None
            log.warning("awaited run was declared lost", extra={"run_id": str(request.run_id)})
            return PipelineResult(
                request.run_id, request.pipeline, "interrupted", {}, row.error_message or "lost"
            )
        return None

    def _delivery_alive(self, run_id: uuid.UUID) -> bool:
        """A worker holds this run id's lock (it renews it while the delivery goes on)."""
        try:
            return bool(self.backend.client.exists(run_lock_key(run_id)))
        except Exception:  # Redis is away: the result poll reconnects; keep waiting meanwhile
            log.debug("could not read the run lock", exc_info=True)
            return True

    def _maybe_lost_before_open(self, waiting: _Waiting) -> PipelineResult | None:
        """STARTED on a worker for longer than the run lock's TTL, with no row and nobody
        holding its run lock: the worker died between taking the message and opening the run."""
        ttl = self.executor.config.run_lock_ttl_s
        started = waiting.started_at
        if started is None or self.executor.monotonic() - started <= ttl:
            return None
        if self.backend.client.exists(run_lock_key(waiting.request.run_id)):
            return None
        return self.executor.lost_before_open(waiting.request)

    def _deliver(self, task_id: str, raw: Any) -> None:
        with self._lock:
            waiting = self._waiting.get(task_id)
        if waiting is None or waiting.following:
            return
        meta = self.backend.decode_result(raw)
        status = meta.get("status")
        if status not in {"SUCCESS", "FAILURE", "REVOKED"}:  # STARTED, RETRY: keep waiting
            if status != "STARTED":
                waiting.started_at = None
            elif waiting.started_at is None:
                waiting.started_at = self.executor.monotonic()
            return
        with self._lock:
            if self._waiting.pop(task_id, None) is None:
                return
        try:
            outcome = self.executor.settle(waiting.request, meta)
        except Exception as exc:  # the database failed while closing the run
            outcome = exc
        if outcome is FOLLOW_LEDGER:
            waiting.following = True
            with self._lock:
                self._waiting[task_id] = waiting
            return
        _finish(waiting.future, outcome)

    def _expire_overdue(self) -> None:
        now = self.executor.monotonic()  # the clock the deadlines were set with
        with self._lock:
            overdue = [k for k, w in self._waiting.items() if w.deadline <= now]
            expired = [self._waiting.pop(k) for k in overdue]
        for w in expired:
            try:
                _finish(w.future, self.executor.expire(w.request))
            except Exception as exc:
                _finish(w.future, exc)


def _finish(future: Future[PipelineResult], outcome: PipelineResult | BaseException) -> None:
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:
        pass


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _safe_url(url: str) -> str:
    """The broker URL without its password (for ledger rows and alerts)."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def opening_of(request: RunRequest) -> RunOpening:
    """The ledger's view of a request."""
    return RunOpening(
        pipeline=request.pipeline,
        trigger=request.trigger,
        run_id=request.run_id,
        scheduled_for=request.scheduled_for,
        actor=request.actor,
        params=dict(request.params),
        correlation_id=request.correlation_id,
        attempt=request.attempt,
        parent_run_id=request.parent_run_id,
    )


def close_run(
    sessions: sessionmaker[Session],
    request: RunRequest,
    error_type: str,
    reason: str,
    now: datetime,
) -> None:
    """Fail the run's row (or its newest redelivered attempt) if it is still unfinished; write a
    failed row when the task never got as far as the ledger."""
    error = Interruption(error_type, reason)
    if fail_unfinished(sessions, request.run_id, error, now):
        return
    try:
        record_failed_run(sessions, opening_of(request), error, now)
    except DuplicateTick:
        log.info("tick already has a run", extra={"run_id": str(request.run_id)})
