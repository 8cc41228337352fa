"""How a pipeline run is carried out: the TaskExecutor interface and the in-server thread pool.

The scheduler, the break-glass path and the DB queue worker only ever talk to `TaskExecutor`.
The public methods do the bookkeeping (validation, run ids, in-flight counts, logging); a
subclass implements `_execute`, after APScheduler's `submit_job` / `_do_submit_job`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import CircuitBreaker
from app.pipelines.context import PipelineContext
from app.pipelines.runner import PIPELINE_NAMES, PipelineResult, run_pipeline

log = logging.getLogger("dugout.scheduler.executor")
PRIORITIES = ("critical", "default", "low")


class ExecutorClosed(RuntimeError):
    """The executor was shut down and takes no more runs."""


class RunAbandoned(RuntimeError):
    """This process stopped waiting for the run; the run itself is not lost (no retry needed)."""

    def __init__(self, run_id: uuid.UUID, reason: str) -> None:
        super().__init__(reason)
        self.run_id = run_id


class RunInterrupted(RunAbandoned):
    """The run was still going when its process had to stop; it is recorded and re-queued."""


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One pipeline run to carry out; the run id is fixed before anything is submitted."""

    pipeline: str
    trigger: str = "manual"
    scheduled_for: datetime | None = None
    actor: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)
    attempt: int = 1
    parent_run_id: uuid.UUID | None = None
    priority: str = "default"
    leader_epoch: int | None = None  # a leader runs it itself: its writes check this epoch

    @classmethod
    def build(cls, pipeline: str, **params: Any) -> RunRequest:
        """Validate the pipeline name and keyword arguments and fill in a run id."""
        if pipeline not in PIPELINE_NAMES:
            raise ValueError(
                f"unknown pipeline {pipeline!r}; choose one of {', '.join(PIPELINE_NAMES)}"
            )
        known = {f.name for f in fields(cls)} - {"pipeline"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise TypeError(f"execute_pipeline() got unexpected arguments: {', '.join(unknown)}")
        if params.get("run_id") is None:
            params.pop("run_id", None)
        if params.get("priority", "default") not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}")
        return cls(pipeline=pipeline, **params)


@dataclass(frozen=True, slots=True)
class RunHandle:
    """A submitted run: its id at once, its result when it ends."""

    run_id: uuid.UUID
    pipeline: str
    future: Future[PipelineResult]

    def result(self, timeout: float | None = None) -> PipelineResult:
        """Wait for the run and return its result (re-raises DuplicateTick and the like)."""
        return self.future.result(timeout)

    def done(self) -> bool:
        """True once the run has ended."""
        return self.future.done()


class TaskExecutor(ABC):
    """Runs pipelines somewhere; subclasses decide where by implementing `_execute`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._closed = False

    def execute_pipeline(self, pipeline: str, **params: Any) -> PipelineResult:
        """Run `pipeline` and wait for its result (keyword arguments as in RunRequest)."""
        return self.submit_pipeline(pipeline, **params).result()

    def submit_pipeline(self, pipeline: str, **params: Any) -> RunHandle:
        """Start `pipeline` and return at once with its run id and a future for its result."""
        return self.submit_request(RunRequest.build(pipeline, **params))

    def submit_request(self, request: RunRequest) -> RunHandle:
        """Start an already validated request (the run id is the caller's); see submit_pipeline."""
        with self._lock:
            if self._closed:
                raise ExecutorClosed("the executor has been shut down")
            self._in_flight[request.priority] += 1
        started = time.perf_counter()
        try:
            future = self._execute(request)
        except BaseException:
            self._finished(request.priority)
            raise
        future.add_done_callback(lambda f: self._done(request, f, started))
        return RunHandle(request.run_id, request.pipeline, future)

    def in_flight(self, priority: str | None = None) -> int:
        """Runs submitted and not yet ended, of one priority or all."""
        with self._lock:
            if priority is None:
                return sum(self._in_flight.values())
            return self._in_flight[priority]

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new runs; with `wait`, return once the runs in flight have ended."""
        with self._lock:
            self._closed = True
        self._shutdown(wait)

    def drain(self, timeout_s: float) -> list[RunRequest]:
        """Refuse new runs, give those in flight `timeout_s` to end, and return the ones that
        did not: their futures end with RunInterrupted; the caller records and re-queues them."""
        with self._lock:
            self._closed = True
        return self._drain(max(0.0, timeout_s))

    def _drain(self, timeout_s: float) -> list[RunRequest]:
        """Wait for this process's runs; the default has none (they run elsewhere)."""
        self._shutdown(False)
        return []

    def _finished(self, priority: str) -> None:
        with self._lock:
            self._in_flight[priority] -= 1

    def _done(self, request: RunRequest, future: Future[PipelineResult], started: float) -> None:
        self._finished(request.priority)
        took = round(time.perf_counter() - started, 3)
        exc = future.exception() if not future.cancelled() else None
        if exc is not None:
            log.info(
                "run did not complete",
                extra={
                    "run_id": str(request.run_id),
                    "pipeline": request.pipeline,
                    "error_type": type(exc).__name__,
                    "seconds": took,
                },
            )

    @abstractmethod
    def _execute(self, request: RunRequest) -> Future[PipelineResult]:
        """Start the run described by `request`; the future ends with its PipelineResult."""

    def _shutdown(self, wait: bool) -> None:  # noqa: B027  (optional hook)
        """Release whatever the executor holds; the default holds nothing."""


Runner = Callable[..., PipelineResult]


class LocalExecutor(TaskExecutor):
    """Runs pipelines in thread pools inside this process: one for critical runs, one for the rest."""

    def __init__(
        self,
        context: PipelineContext | Callable[[], PipelineContext],
        *,
        max_workers: int = 8,
        critical_workers: int = 2,
        runner: Runner = run_pipeline,
    ) -> None:
        super().__init__()
        self._context = context
        self._runner = runner
        self._pools = {
            "critical": ThreadPoolExecutor(critical_workers, thread_name_prefix="dugout-critical"),
            "default": ThreadPoolExecutor(max_workers, thread_name_prefix="dugout-run"),
        }
        self._running: dict[uuid.UUID, tuple[RunRequest, Future[PipelineResult]]] = {}
        self._running_lock = threading.Lock()

    def context(self) -> PipelineContext:
        """The pipeline context runs use (built on first use when given as a factory)."""
        ctx = self._context
        return ctx if isinstance(ctx, PipelineContext) else ctx()

    def _execute(self, request: RunRequest) -> Future[PipelineResult]:
        """The pool's future mirrored into one of our own, which `drain` can end early."""
        pool = self._pools["critical" if request.priority == "critical" else "default"]
        outer: Future[PipelineResult] = Future()
        outer.set_running_or_notify_cancel()
        with self._running_lock:
            self._running[request.run_id] = (request, outer)
        inner = pool.submit(self._run, request)
        inner.add_done_callback(lambda f: self._mirror(request.run_id, f, outer))
        return outer

    def _mirror(
        self, run_id: uuid.UUID, inner: Future[PipelineResult], outer: Future[PipelineResult]
    ) -> None:
        with self._running_lock:
            self._running.pop(run_id, None)
        try:
            if inner.cancelled():
                outer.set_exception(ExecutorClosed("the run was cancelled at shutdown"))
            elif inner.exception() is not None:
                outer.set_exception(inner.exception())  # type: ignore[arg-type]
            else:
                outer.set_result(inner.result())
        except InvalidStateError:  # drain already ended it as interrupted
            if not inner.cancelled():
                log.warning(
                    "run ended after it was recorded as interrupted", extra={"run_id": str(run_id)}
                )

    def _run(self, request: RunRequest) -> PipelineResult:
        return self._runner(
            self.context(),
            request.pipeline,
            request.trigger,
            scheduled_for=request.scheduled_for,
            actor=request.actor,
            params=request.params,
            correlation_id=request.correlation_id,
            run_id=request.run_id,
            attempt=request.attempt,
            parent_run_id=request.parent_run_id,
            leader_epoch=request.leader_epoch,
        )

    def _shutdown(self, wait: bool) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=wait, cancel_futures=not wait)

    def _drain(self, timeout_s: float) -> list[RunRequest]:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=False)  # runs queued here still start
        with self._running_lock:
            waiting = [outer for _, outer in self._running.values()]
        wait_futures(waiting, timeout=timeout_s, return_when=ALL_COMPLETED)
        with self._running_lock:
            left = list(self._running.values())
        interrupted = []
        for request, outer in left:
            reason = f"the process stopped; the run did not end within {timeout_s:.0f} s"
            try:
                outer.set_exception(RunInterrupted(request.run_id, reason))
            except InvalidStateError:
                continue  # it ended just now
            interrupted.append(request)
        for pool in self._pools.values():
            # those not started never will; when every run ended, the idle threads are joined
            # so none outlives the drain
            pool.shutdown(wait=not interrupted, cancel_futures=True)
        return interrupted


# --- which executor runs: the configured one, or local by an operator's audited switch -------

EXECUTOR_SWITCH = "executor"  # a row in circuit_breakers, as the kill switch is
EXECUTOR_MODES = ("local", "celery")


class ExecutorSwitch:
    """The operator's choice of executor, one row every process reads (cached for `ttl_s`).

    No row, or state "configured", means DUGOUT_EXECUTOR decides; "local" forces the in-process
    pool (Redis is down); "celery" forces Celery. Flipped by the audited `executor` command.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utcnow,
        *,
        ttl_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.ttl_s = ttl_s
        self.monotonic = monotonic
        self._cached: tuple[float, str | None] | None = None

    def override(self) -> str | None:
        """ "local" or "celery" when an operator chose one, else None (read at most every ttl)."""
        now = self.monotonic()
        if self._cached is not None and now - self._cached[0] < self.ttl_s:
            return self._cached[1]
        try:
            with self.sessions() as session:
                row = session.get(CircuitBreaker, EXECUTOR_SWITCH)
                mode = row.state if row is not None and row.state in EXECUTOR_MODES else None
        except Exception:  # the database is down: keep the last answer, runs fail on their own
            log.exception("could not read the executor switch")
            return self._cached[1] if self._cached else None
        self._cached = (now, mode)
        return mode

    def set(self, session: Session, mode: str | None) -> bool:
        """Force `mode` ("local" or "celery"), or None to follow the configuration, inside
        `session`; True when it changed."""
        if mode is not None and mode not in EXECUTOR_MODES:
            raise ValueError(f"executor mode must be one of {', '.join(EXECUTOR_MODES)}")
        state = mode or "configured"
        row = session.get(CircuitBreaker, EXECUTOR_SWITCH, with_for_update=True)
        now = self.clock()
        if row is None:
            row = CircuitBreaker(
                name=EXECUTOR_SWITCH, state="configured", consecutive_failures=0, updated_at=now
            )
            session.add(row)
        changed = row.state != state
        row.state, row.updated_at = state, now
        row.opened_at = now if mode is not None else None
        self._cached = None
        return changed


class RoutedExecutor(TaskExecutor):
    """Sends each run to the configured executor unless an operator switched to the other.

    The scheduler and break-glass paths hold this one object; the switch takes effect on the
    next run in every process (within the switch's cache time), with no restart.
    """

    def __init__(self, executors: dict[str, TaskExecutor], configured: str, switch: ExecutorSwitch):
        super().__init__()
        if configured not in executors:
            raise ValueError(f"no {configured!r} executor among {', '.join(executors)}")
        self.executors = executors
        self.configured = configured
        self.switch = switch

    def mode(self) -> str:
        """The executor the next run goes to."""
        chosen = self.switch.override()
        return chosen if chosen in self.executors else self.configured

    def target(self) -> TaskExecutor:
        """The executor object the next run goes to."""
        return self.executors[self.mode()]

    def _execute(self, request: RunRequest) -> Future[PipelineResult]:
        return self.target().submit_request(request).future

    def _shutdown(self, wait: bool) -> None:
        for executor in self.executors.values():
            executor.shutdown(wait)

    def _drain(self, timeout_s: float) -> list[RunRequest]:
        deadline = time.monotonic() + timeout_s
        left: list[RunRequest] = []
        for executor in self.executors.values():
            left += executor.drain(deadline - time.monotonic())
        return left


def build_executor(
    settings: Any,
    sessions: sessionmaker[Session],
    context: PipelineContext | Callable[[], PipelineContext],
    *,
    run_threads: int = 8,
    critical_threads: int = 2,
) -> TaskExecutor:
    """The executor DUGOUT_EXECUTOR asks for: the local pool, or Celery with the local pool
    standing by for an operator's switch (`dugout executor local`)."""
    local = LocalExecutor(context, max_workers=run_threads, critical_workers=critical_threads)
    if settings.executor != "celery":
        return local
    from scheduler.celery_app import make_celery
    from scheduler.celery_executor import CeleryExecutor

    celery = CeleryExecutor(make_celery(settings), sessions)
    return RoutedExecutor({"local": local, "celery": celery}, "celery", ExecutorSwitch(sessions))
