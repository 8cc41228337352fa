"""The TaskExecutor interface: what the scheduler, break-glass and the DB queue talk to.

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
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from app.pipelines.runner import PIPELINE_NAMES, PipelineResult

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
