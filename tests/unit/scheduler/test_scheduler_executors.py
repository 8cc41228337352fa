"""TaskExecutor bookkeeping and the thread-pool LocalExecutor (with a stand-in runner)."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select

from app.models import PipelineRun
from app.pipelines.context import PipelineContext
from app.pipelines.runner import DuplicateTick, PipelineResult
from scheduler.executors import ExecutorClosed, LocalExecutor


class Runner:
    """Stands in for run_pipeline: records calls, can block until released, can raise."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.release = threading.Event()
        self.release.set()
        self.raise_: Exception | None = None

    def __call__(self, ctx, pipeline, trigger, **kw) -> PipelineResult:
        self.calls.append({"pipeline": pipeline, "trigger": trigger, "ctx": ctx, **kw})
        self.release.wait(5)
        if self.raise_ is not None:
            raise self.raise_
        return PipelineResult(kw["run_id"], pipeline, "succeeded", {})


@pytest.fixture
def runner() -> Runner:
    return Runner()


@pytest.fixture
def executor(sessions, runner):
    ex = LocalExecutor(
        PipelineContext(sessions=sessions), max_workers=2, critical_workers=1, runner=runner
    )
    yield ex
    ex.shutdown(wait=True)


def test_submit_fixes_the_run_id_first_and_passes_everything_on(executor, runner) -> None:
    run_id = uuid.uuid4()
    handle = executor.submit_pipeline(
        "collection",
        trigger="schedule",
        actor="me",
        run_id=run_id,
        params={"a": 1},
        priority="critical",
    )
    assert handle.run_id == run_id
    assert handle.result(5).status == "succeeded"
    call = runner.calls[0]
    assert (call["pipeline"], call["trigger"], call["actor"], call["run_id"], call["params"]) == (
        "collection",
        "schedule",
        "me",
        run_id,
        {"a": 1},
    )


def test_execute_pipeline_waits_and_reraises_duplicate_ticks(executor, runner) -> None:
    assert executor.execute_pipeline("grading").status == "succeeded"
    runner.raise_ = DuplicateTick("already ran")
    with pytest.raises(DuplicateTick):
        executor.execute_pipeline("grading")


def test_in_flight_counts_by_priority(executor, runner) -> None:
    runner.release.clear()
    a = executor.submit_pipeline("collection", priority="critical")
    b = executor.submit_pipeline("grading")
    assert executor.in_flight() == 2 and executor.in_flight("critical") == 1
    runner.release.set()
    a.result(5), b.result(5)
    for _ in range(500):  # done-callbacks run just after the result is set
        if executor.in_flight() == 0:
            break
        threading.Event().wait(0.01)
    assert executor.in_flight() == 0


def test_bad_requests_are_refused_before_anything_runs(executor, runner) -> None:
    with pytest.raises(ValueError, match="unknown pipeline 'nope'"):
        executor.submit_pipeline("nope")
    with pytest.raises(TypeError, match="unexpected arguments: colour"):
        executor.submit_pipeline("grading", colour="red")
    with pytest.raises(ValueError, match="priority"):
        executor.submit_pipeline("grading", priority="urgent")
    assert not runner.calls and executor.in_flight() == 0


def test_shutdown_refuses_new_runs(sessions, runner) -> None:
    ex = LocalExecutor(PipelineContext(sessions=sessions), runner=runner)
    ex.shutdown(wait=True)
    with pytest.raises(ExecutorClosed):
        ex.submit_pipeline("grading")


def test_retries_hand_attempt_and_parent_to_the_runner(executor, runner) -> None:
    parent = uuid.uuid4()
    executor.execute_pipeline("grading", attempt=2, parent_run_id=parent, trigger="retry")
    assert (runner.calls[0]["attempt"], runner.calls[0]["parent_run_id"]) == (2, parent)
    executor.execute_pipeline("grading")
    assert (runner.calls[1]["attempt"], runner.calls[1]["parent_run_id"]) == (1, None)
    assert runner.calls[1]["ctx"].observers == ()


def test_a_retry_is_opened_with_its_attempt_and_parent(sessions) -> None:
    from scheduler_fakes import START

    from app.pipelines.ledger import RunOpening, open_run

    parent_id = uuid.uuid4()
    open_run(
        sessions,
        RunOpening("grading", "schedule", run_id=parent_id),
        START,
        first_stage=None,
        clock=lambda: START,
    )
    ex = LocalExecutor(PipelineContext(sessions=sessions), max_workers=1, critical_workers=1)
    try:
        result = ex.execute_pipeline("grading", attempt=3, parent_run_id=parent_id)
    finally:
        ex.shutdown(wait=True)
    with sessions() as s:
        row = s.scalars(select(PipelineRun).where(PipelineRun.id == result.run_id)).one()
        assert (row.attempt, row.parent_run_id, row.status) == (3, parent_id, result.status)
