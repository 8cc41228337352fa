"""Test doubles for the scheduler unit tests: hand-moved clocks and an executor that writes
ledger rows with scripted outcomes (no pipelines run)."""

from __future__ import annotations

import uuid
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.models import PipelineRun
from app.pipelines.runner import DuplicateTick, PipelineResult
from scheduler.executors import RunRequest, TaskExecutor

START = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class ScriptedExecutor(TaskExecutor):
    """Writes the run row like the runner (so the tick key is real) and ends with the next
    scripted status for that pipeline (succeeded when none is left)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: FakeClock,
        outcomes: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.sessions = sessions
        self.clock = clock
        self.outcomes = outcomes or {}
        self.requests: list[RunRequest] = []

    def _execute(self, request: RunRequest) -> Future[PipelineResult]:
        future: Future[PipelineResult] = Future()
        script = self.outcomes.get(request.pipeline) or []
        status = script.pop(0) if script else "succeeded"
        summary = {"collect": {"reason": "stale input"}} if status == "skipped" else {}
        run = PipelineRun(
            id=request.run_id,
            pipeline=request.pipeline,
            trigger=request.trigger,
            scheduled_for=request.scheduled_for,
            status=status,
            actor=request.actor,
            correlation_id=uuid.uuid4().hex,
            attempt=request.attempt,
            parent_run_id=request.parent_run_id,
            created_at=self.clock(),
            started_at=self.clock(),
            finished_at=self.clock(),
            summary=summary,
        )
        try:
            with self.sessions.begin() as session:
                session.add(run)
        except IntegrityError:
            future.set_exception(DuplicateTick(f"{request.pipeline} tick already ran"))
            return future
        self.requests.append(request)
        error = "collect: boom" if status == "failed" else None
        future.set_result(PipelineResult(request.run_id, request.pipeline, status, summary, error))
        return future
