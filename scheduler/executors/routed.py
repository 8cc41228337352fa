"""Which executor runs: the configured one, or the other by an operator's audited switch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import CircuitBreaker
from app.pipelines.runner import PipelineResult
from scheduler.executors.base import RunRequest, TaskExecutor

log = logging.getLogger("dugout.scheduler.executor")

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
