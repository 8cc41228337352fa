"""Test doubles for the scheduler unit tests: hand-moved clocks and an executor that writes
ledger rows with scripted outcomes (no pipelines run)."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.pipelines.ledger import DuplicateTick, RunEnding, RunOpening, open_run
from app.pipelines.runner import PipelineResult
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
        opening = RunOpening(
            pipeline=request.pipeline,
            trigger=request.trigger,
            run_id=request.run_id,
            scheduled_for=request.scheduled_for,
            actor=request.actor,
            attempt=request.attempt,
            parent_run_id=request.parent_run_id,
        )
        try:
            handle = open_run(
                self.sessions, opening, self.clock(), first_stage=None, clock=self.clock
            )
        except DuplicateTick as exc:
            future.set_exception(exc)
            return future
        handle.finish(None, [], RunEnding(status, 0.0, summary), self.clock())
        self.requests.append(request)
        error = "collect: boom" if status == "failed" else None
        future.set_result(PipelineResult(request.run_id, request.pipeline, status, summary, error))
        return future
