"""SIGTERM to gunicorn while its leader runs a pipeline: the worker stops taking requests, the
leader steps down, a standby scheduler takes the lease, and the run that could not finish in the
grace period is recorded as interrupted and re-queued, then completed: never lost."""

from __future__ import annotations

import signal
import sys

import pytest
from celery_support import HERE
from pg_scheduler import (
    REPO,
    assert_exactly_once,
    free_port,
    holder_pid,
    lease,
    process_env,
    runs,
    seed,
    wait_for,
)
from sqlalchemy import select

from app.models import SchedulerCommand, StageRun
from scheduler.schedule import JobSpec

pytestmark = pytest.mark.postgres


def _collecting(sessions):
    """A collection run whose collect stage is running (its source is fetching)."""
    for run in runs(sessions, "collection"):
        with sessions() as s:
            stage = s.scalars(select(StageRun).where(StageRun.run_id == run.id)).first()
        if run.status == "running" and stage is not None and stage.status == "running":
            return run
    return None


def test_sigterm_to_dugout_serve_drains_requeues_and_loses_no_run(
    processes, sessions, pg_url, tmp_path
) -> None:
    """`dugout serve` loads the container's gunicorn settings and hooks: DUGOUT_BIND, _WORKERS
    and _GRACEFUL_TIMEOUT are honoured, and SIGTERM with a run in flight steps the leader down,
    re-queues the run once, and a standby completes its tick exactly once."""
    seed(sessions, JobSpec("collection", "collection", 2, "critical"))
    env = process_env(pg_url, tmp_path / "var")
    port = free_port()
    env.update(
        {
            "DUGOUT_BIND": f"127.0.0.1:{port}",
            "DUGOUT_WORKERS": "2",
            "DUGOUT_THREADS": "2",
            "DUGOUT_GRACEFUL_TIMEOUT": "4",
            "DUGOUT_ADMIN_PASSWORD": "correct-horse-battery",
            "DUGOUT_TEST_FETCH_DELAY_S": "30",  # far longer than the grace period
            "DUGOUT_SLO_EVALUATE_INTERVAL_S": "0",
        }
    )
    serve = processes.spawn("serve", [sys.executable, str(HERE / "serve_main.py")], env)
    wait_for(lambda: lease(sessions)[0], 90, step_s=0.2)
    wait_for(lambda: f"Listening at: http://127.0.0.1:{port}" in processes.log("serve"), 30)
    assert processes.log("serve").count("Booting worker with pid") == 2
    running = wait_for(lambda: _collecting(sessions), 60, step_s=0.1)

    standby_env = {**env, "DUGOUT_TEST_FETCH_DELAY_S": "0"}
    processes.spawn("standby", [sys.executable, "-m", "scheduler.cli", "scheduler"], standby_env)
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(60) == 0  # within the 4 s grace, not the fetch's 30 s
    log = processes.log("serve")
    assert "Exception during worker exit" not in log, log[-3000:]

    def retried():
        rows = runs(sessions, "collection")
        return [r for r in rows if r.parent_run_id == running.id and r.status == "succeeded"]

    child = wait_for(retried, 90, step_s=0.2)
    wait_for(lambda: len([r for r in runs(sessions, "collection") if r.finished_at]) >= 4, 90)
    processes.stop_all()  # the ledger at rest
    with sessions() as s:
        commands = s.scalars(select(SchedulerCommand)).all()
        requeue = [c for c in commands if c.params.get("requeue_of") == str(running.id)]
    assert len(requeue) == 1 and len(child) == 1 and child[0].attempt == 2
    rows = {r.id: r for r in runs(sessions, "collection")}
    assert rows[running.id].error_type in {"ShutdownInterrupted", "LeaderLost"}
    ticks = {t.tick: t for t in assert_exactly_once(sessions)}
    assert ticks[running.scheduled_for].executions == 1


def test_sigterm_to_gunicorn_mid_run_requeues_the_run_and_the_scheduler_hands_over(
    processes, sessions, pg_url, tmp_path
) -> None:
    seed(sessions, JobSpec("collection", "collection", 2, "critical"))
    env = process_env(pg_url, tmp_path / "var")
    port = free_port()
    env.update(
        {
            "DUGOUT_BIND": f"127.0.0.1:{port}",
            "DUGOUT_WORKERS": "2",
            "DUGOUT_THREADS": "2",
            "DUGOUT_GRACEFUL_TIMEOUT": "4",
            "DUGOUT_TEST_FETCH_DELAY_S": "30",  # far longer than the grace period
            "DUGOUT_SLO_EVALUATE_INTERVAL_S": "0",
        }
    )
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(REPO / "gunicorn.conf.py"),
        "--no-control-socket",
        "--chdir",
        str(HERE),
        "slow_wsgi:app",
    ]
    gunicorn = processes.spawn("gunicorn", args, env)
    holder, _ = wait_for(lambda: lease(sessions)[0] and lease(sessions), 60, step_s=0.2)

    running = wait_for(lambda: _collecting(sessions), 30, step_s=0.1)
    standby_env = {**env, "DUGOUT_TEST_FETCH_DELAY_S": "0"}
    processes.spawn("standby", [sys.executable, "-m", "scheduler.cli", "scheduler"], standby_env)
    gunicorn.send_signal(signal.SIGTERM)
    assert gunicorn.wait(30) == 0
    log = processes.log("gunicorn")
    assert "Exception during worker exit" not in log, log[-3000:]

    new_holder, _ = wait_for(  # released first (holder None), then taken by the standby
        lambda: (now := lease(sessions))[0] not in (None, holder) and now, 20
    )
    assert holder_pid(new_holder) != holder_pid(holder)
    with sessions() as s:
        commands = s.scalars(select(SchedulerCommand)).all()
        requeue = [c for c in commands if c.params.get("requeue_of") == str(running.id)]
    assert len(requeue) == 1

    def retried():
        rows = runs(sessions, "collection")
        return [r for r in rows if r.parent_run_id == running.id and r.status == "succeeded"]

    child = wait_for(retried, 30, step_s=0.2)
    assert len(child) == 1 and child[0].trigger == "retry" and child[0].attempt == 2
    rows = {r.id: r for r in runs(sessions, "collection")}
    assert rows[running.id].status == "interrupted"
    assert rows[running.id].error_type in {"ShutdownInterrupted", "LeaderLost"}
    gone = [r for r in rows.values() if r.status == "running" and r.actor and holder in r.actor]
    assert gone == []
