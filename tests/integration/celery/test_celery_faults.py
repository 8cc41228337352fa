"""Celery workers lost under the scheduler, on real Redis and PostgreSQL: a whole worker (the
main process and its pool child) or only its pool child SIGKILLed mid-run, and a worker killed
after it took the message but before it opened the run's row. Judged by the ledger at rest
(scheduler/tally.py): one execution per tick, chained runs included, nothing stuck."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from pathlib import Path

import pytest
from celery_support import celery_env
from pg_scheduler import (
    assert_exactly_once,
    data_rows_of,
    lease,
    runs,
    seed,
    stages_of,
    wait_for,
)

from app.models import PipelineRun
from scheduler.schedule import JobSpec

pytestmark = pytest.mark.postgres
LIVENESS = {"DUGOUT_SCHEDULER_RUN_HEARTBEAT_S": "0.5", "DUGOUT_SCHEDULER_RUN_LOST_AFTER_S": "4"}


def _scheduler(processes, pg_url, tmp_path, redis_url, **extra):
    env = celery_env(pg_url, tmp_path / "var", redis_url)
    env.update(LIVENESS)
    env.update({k: str(v) for k, v in extra.items()})
    return processes.spawn("scheduler", [sys.executable, "-m", "scheduler.cli", "scheduler"], env)


def _fetching(sessions) -> PipelineRun | None:
    """A scheduled collection run whose collect stage is running on a worker."""
    for run in runs(sessions, "collection"):
        if run.status == "running" and ("collect", "running") in stages_of(sessions, run.id):
            return run
    return None


def _pool_child(pid: int) -> int:
    """The one pool process of a concurrency-1 prefork worker."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@pytest.mark.parametrize("victim", ["whole-worker", "pool-child"])
def test_a_worker_lost_mid_run_under_the_scheduler_costs_one_retry_never_a_double(
    start_worker, processes, sessions, pg_url, tmp_path, redis_url, victim
) -> None:
    seed(
        sessions,
        JobSpec("collection", "collection", 3, "critical"),
        JobSpec("analysis", "analysis", 0),
    )
    worker, _ = start_worker("w1", DUGOUT_TEST_FETCH_DELAY_S=2.5, **LIVENESS)
    _scheduler(processes, pg_url, tmp_path, redis_url)
    wait_for(lambda: lease(sessions)[0], 90)
    lost = wait_for(lambda: _fetching(sessions), 120, step_s=0.05)
    if victim == "whole-worker":
        os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool child at once
        worker.wait(10)
        start_worker("w2", DUGOUT_TEST_FETCH_DELAY_S=0, **LIVENESS)
    else:
        os.kill(_pool_child(worker.pid), signal.SIGKILL)  # the main process forks a new one

    def retried_and_chained():
        rows = runs(sessions)
        done = [
            r for r in rows if r.parent_run_id == lost.id and r.status in ("succeeded", "partial")
        ]
        chained = [
            r
            for r in rows
            if r.pipeline == "analysis" and r.scheduled_for == lost.scheduled_for and r.finished_at
        ]
        return done and chained and done

    retry = wait_for(retried_and_chained, 180, step_s=0.2)
    later = [r for r in runs(sessions, "collection") if r.scheduled_for]
    newest = max(r.scheduled_for for r in later)

    def two_later_successes() -> list[PipelineRun]:
        ok = [
            r
            for r in runs(sessions, "collection")
            if r.scheduled_for and r.scheduled_for > newest and r.status == "succeeded"
        ]
        return ok if len(ok) >= 2 else []

    later_ok = wait_for(two_later_successes, 180, step_s=0.2)  # collection goes on
    settled = max(r.scheduled_for for r in later_ok)
    # ...and the chain of each tick up to there has finished before every process stops
    wait_for(lambda: _chained_up_to(sessions, settled), 180, step_s=0.2)
    processes.stop_all()  # the ledger at rest

    rows = {r.id: r for r in runs(sessions)}
    assert rows[lost.id].status == "interrupted"
    assert rows[lost.id].error_type in {"WorkerLost", "RunLost", "WorkerLostError"}
    assert data_rows_of(sessions, lost.id) == 0
    assert len(retry) == 1 and retry[0].attempt == 2
    ticks = {
        (t.pipeline, t.tick): t
        for t in assert_exactly_once(sessions, pipelines=("collection", "analysis"), until=settled)
    }
    assert ticks[("collection", lost.scheduled_for)].executions == 1
    assert ticks[("analysis", lost.scheduled_for)].executions == 1


def _chained_up_to(sessions, tick) -> bool:
    """Every collection tick up to `tick` that succeeded has its analysis run finished."""
    rows = runs(sessions)
    done = {
        r.scheduled_for
        for r in rows
        if r.pipeline == "collection"
        and r.scheduled_for
        and r.scheduled_for <= tick
        and r.status in ("succeeded", "partial")
    }
    chained = {r.scheduled_for for r in rows if r.pipeline == "analysis" and r.finished_at}
    return done <= chained


def _retried_and_chained(sessions, lost_id, tick) -> list[PipelineRun]:
    rows = runs(sessions)
    done = [r for r in rows if r.parent_run_id == lost_id and r.status in ("succeeded", "partial")]
    chained = [r for r in rows if r.pipeline == "analysis" and r.scheduled_for == tick]
    return done if done and chained and all(r.finished_at for r in chained) else []


def test_a_worker_killed_before_it_opens_the_run_is_retried_and_its_redelivery_runs_nothing(
    start_worker, processes, sessions, pg_url, tmp_path, redis_url
) -> None:
    """The worker took the message and died before the run had a row: the leader sees the task
    STARTED with no row and no run lock, records the run interrupted and retries it within a
    tick or two (not after the visibility timeout); the late redelivery finds that attempt and
    runs nothing."""
    seed(
        sessions,
        JobSpec("collection", "collection", 4, "critical"),
        JobSpec("analysis", "analysis", 0),
    )
    slow = {"DUGOUT_CELERY_VISIBILITY_TIMEOUT_S": "25", "DUGOUT_CELERY_EXPIRES_S": "120"}
    held = tmp_path / "held"
    held.mkdir()
    worker, _ = start_worker("w1", DUGOUT_TEST_HOLD_BEFORE_OPEN=held, **LIVENESS, **slow)
    _scheduler(processes, pg_url, tmp_path, redis_url, **slow)
    marker = wait_for(lambda: next(held.glob("held-*"), None), 120, step_s=0.1)
    run_id = uuid.UUID(wait_for(lambda: marker.read_text().strip(), 10))
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    with sessions() as s:
        assert s.get(PipelineRun, run_id) is None  # killed before it opened the run
    start_worker("w2", DUGOUT_TEST_FETCH_DELAY_S=0, **LIVENESS, **slow)

    def lost_row():
        with sessions() as s:
            return s.get(PipelineRun, run_id)

    lost = wait_for(lost_row, 120, step_s=0.2)
    retry = wait_for(lambda: _retried_and_chained(sessions, run_id, lost.scheduled_for), 120, 0.2)
    # the message comes back after the visibility timeout and finds the retried attempt
    wait_for(lambda: "run already ended" in processes.log("w2"), 180, step_s=0.5)
    processes.stop_all()  # the ledger at rest

    rows = {r.id: r for r in runs(sessions)}
    assert (rows[run_id].status, rows[run_id].error_type) == ("interrupted", "WorkerLost")
    assert len(retry) == 1 and retry[0].attempt == 2
    ticks = {
        (t.pipeline, t.tick): t
        for t in assert_exactly_once(sessions, pipelines=("collection", "analysis"))
    }
    assert ticks[("collection", lost.scheduled_for)].executions == 1
    assert ticks[("analysis", lost.scheduled_for)].executions == 1
    held_back = [
        r
        for r in rows.values()
        if r.status == "skipped" and "still going" in (r.summary or {}).get("reason", "")
    ]
    # the 25 s visibility timeout would have cost about six 4 s ticks; the leader took over
    # within a few (lock TTL 2 s, then its next ledger poll)
    assert len(held_back) <= 3, len(held_back)
