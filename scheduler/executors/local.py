"""LocalExecutor: pipelines in thread pools inside this process (critical runs get their own)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from app.pipelines.context import PipelineContext
from app.pipelines.runner import PipelineResult, run_pipeline
from scheduler.executors.base import ExecutorClosed, RunInterrupted, RunRequest, TaskExecutor

log = logging.getLogger("dugout.scheduler.executor")

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
