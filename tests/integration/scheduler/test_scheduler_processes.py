"""Real processes on one PostgreSQL: gunicorn workers each running the app and its scheduler
host, and `dugout scheduler` / `dugout worker` processes. Polled with deadlines, never timed."""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from datetime import datetime, timedelta

import pytest
from pg_scheduler import (
    assert_exactly_once,
    data_rows_of,
    free_port,
    holder_pid,
    lease,
    log_events,
    process_env,
    runs,
    seed,
    spawn_scheduler,
    stages_of,
    wait_for,
)

from app.db import utcnow
from app.models import PipelineRun, QueuedJob, SchedulerCommand
from scheduler.commands import write_command
from scheduler.control import KillSwitch
from scheduler.queue import DbQueue
from scheduler.schedule import JobSpec

pytestmark = pytest.mark.postgres

SCHEDULE = (
    JobSpec("collection", "collection", 1, "critical"),
    JobSpec("analysis", "analysis", 0),
    JobSpec("recommendations", "recommendations", 0),
    JobSpec("grading", "grading", 900, enabled=False),
)


def _gunicorn(processes, env, workers: int):
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--no-control-socket",
        "-w",
        str(workers),
        "-k",
        "gthread",
        "--threads",
        "2",
        "--timeout",
        "120",
        "-b",
        f"127.0.0.1:{free_port()}",
        "--chdir",
        "tests/integration/scheduler",
        "scheduler_wsgi:app",
    ]
    return processes.spawn("gunicorn", args, env)


def _ticks(sessions, pipeline: str, until: datetime | None = None) -> list[PipelineRun]:
    return [
        r
        for r in runs(sessions, pipeline)
        if r.trigger == "schedule" and (until is None or r.scheduled_for < until)
    ]


def _assert_each_tick_once_without_gaps(rows: list[PipelineRun]) -> None:
    counts = Counter(r.scheduled_for for r in rows)
    assert max(counts.values()) == 1, [t for t, n in counts.items() if n > 1]
    ticks = sorted(counts)
    expected = int((ticks[-1] - ticks[0]).total_seconds()) + 1
    # APScheduler coalesces (coalesce=True) a 1 s tick whose loop woke a second late on a
    # loaded machine; at production intervals that never happens. One such tick is allowed.
    assert expected - len(ticks) <= 1, "ticks between the first and the last have no run"


def test_gunicorn_workers_run_each_tick_once_and_survive_a_leader_kill(
    processes, sessions, pg_url, tmp_path
) -> None:
    seed(sessions, *SCHEDULE)
    gunicorn = _gunicorn(processes, process_env(pg_url, tmp_path / "var"), workers=3)
    # deadlines are generous (a loaded machine boots three Dash workers slowly); how fast
    # things happen is bench/faults.py's to print, not a test's to assert
    holder, epoch = wait_for(lambda: lease(sessions)[0] and lease(sessions), 300, step_s=0.5)
    first = wait_for(lambda: _ticks(sessions, "collection"), 120)[0].scheduled_for
    wait_for(lambda: len(_ticks(sessions, "collection")) >= 22, 240, step_s=0.5)

    # SIGKILL the leading worker: gunicorn replaces it, another worker takes the lease
    killed_at = datetime.now(first.tzinfo)
    before = _ticks(sessions, "collection")
    os.kill(holder_pid(holder), signal.SIGKILL)
    new_holder, new_epoch = wait_for(
        lambda: (held := lease(sessions))[1] > epoch and held[0] and held, 120, 0.05
    )
    wait_for(
        lambda: [r for r in _ticks(sessions, "collection") if r.actor == f"scheduler:{new_holder}"],
        120,
        0.05,
    )
    assert holder_pid(new_holder) != holder_pid(holder) and new_epoch == epoch + 1
    wait_for(lambda: len(_ticks(sessions, "collection")) >= len(before) + 5, 120, step_s=0.5)

    # a command written outside the leader is applied by the new leader
    command_id = write_command(
        sessions,
        "pause",
        "grading",
        actor="tester",
        reason="test",
        params={},
        kill_switch=KillSwitch(sessions),
    )

    def applied():
        with sessions() as s:
            return s.get(SchedulerCommand, command_id).status == "applied"

    wait_for(applied, 60, step_s=0.02)

    # every tick ran exactly once under the first leader: no gaps, one actor, no second attempt
    term1 = [r for r in before if r.scheduled_for >= first and r.finished_at is not None]
    _assert_each_tick_once_without_gaps(term1)
    assert {r.actor for r in term1} == {f"scheduler:{holder}"}
    assert sum(r.status in {"succeeded", "partial"} for r in term1) >= 20, Counter(
        (r.status, r.error_type, (r.summary or {}).get("reason")) for r in term1
    )
    chained = Counter(r.scheduled_for for r in runs(sessions, "analysis"))
    assert chained and max(chained.values()) == 1
    overall = Counter(r.scheduled_for for r in _ticks(sessions, "collection"))
    assert max(overall.values()) == 1
    gunicorn.send_signal(signal.SIGTERM)
    gunicorn.wait(60)
    duplicates = [
        e
        for e in log_events(processes.log("gunicorn"), "duplicate tick suppressed")
        if datetime.fromisoformat(e["time"]) < killed_at - timedelta(seconds=1)
    ]
    assert duplicates == []


def test_scheduler_processes_fail_over_after_sigkill(processes, sessions, pg_url, tmp_path):
    seed(sessions, SCHEDULE[0])
    env = process_env(pg_url, tmp_path / "var")
    procs = {}
    for name in ("s1", "s2"):
        proc = processes.spawn(name, [sys.executable, "-m", "scheduler.cli", "scheduler"], env)
        procs[proc.pid] = proc
    holder, epoch = wait_for(lambda: lease(sessions)[0] and lease(sessions), 120)
    wait_for(lambda: len(_ticks(sessions, "collection")) >= 3, 120)
    leader = procs[holder_pid(holder)]
    leader.send_signal(signal.SIGKILL)
    new_holder, _ = wait_for(lambda: (held := lease(sessions))[1] > epoch and held, 120, 0.05)
    wait_for(
        lambda: [r for r in _ticks(sessions, "collection") if r.actor == f"scheduler:{new_holder}"],
        120,
        0.05,
    )
    assert max(Counter(r.scheduled_for for r in _ticks(sessions, "collection")).values()) == 1


def test_dugout_worker_claims_queued_runs_once(processes, sessions, pg_url, tmp_path) -> None:
    queue = DbQueue(sessions)
    ids = [queue.enqueue("grading", {"trigger": "queue", "actor": "tester"}) for _ in range(6)]
    env = process_env(pg_url, tmp_path / "var")
    workers = [
        processes.spawn(
            f"w{i}",
            [sys.executable, "-m", "scheduler.cli", "worker", "--once", "--name", f"w{i}"],
            env,
        )
        for i in range(3)
    ]
    for proc in workers:
        assert proc.wait(120) == 0

    with sessions() as s:
        rows = [s.get(QueuedJob, i) for i in ids]
        # claimed and finished once each (concurrent grading runs may still fail on their own)
        assert {r.status for r in rows} <= {"done", "failed"}
        assert all(r.finished_at is not None and r.run_id is not None for r in rows)
        assert len({r.run_id for r in rows}) == 6
        assert {r.claimed_by for r in rows} <= {"w0", "w1", "w2"}
    assert len(runs(sessions, "grading")) == 6


def _in_flight(sessions, holder: str) -> list[PipelineRun]:
    """The collection runs of `holder` still running."""
    rows = runs(sessions, "collection")
    return [r for r in rows if r.status == "running" and r.actor == f"scheduler:{holder}"]


def _fetching(sessions, holder: str) -> PipelineRun | None:
    """A run of `holder` whose collect stage is running (its source is fetching)."""
    return next(
        (
            r
            for r in _in_flight(sessions, holder)
            if ("collect", "running") in stages_of(sessions, r.id)
        ),
        None,
    )


@pytest.mark.parametrize(
    ("fetch_delay_s", "interval_s"),
    [("1.5", 2), ("0", 1)],
    ids=["run-in-flight", "anywhere-in-a-tick"],
)
def test_a_frozen_leader_is_dropped_by_the_server_and_fenced_when_it_wakes(
    processes, sessions, pg_url, tmp_path, fetch_delay_s, interval_s
) -> None:
    """SIGSTOP the leader (with a run in flight, or at whatever point of a 1 s tick it is), past
    the lease TTL, then SIGCONT: the successor takes over, the woken process writes nothing (no
    stage, no data, no skip row, no status), steps down, and the ledger at rest has every tick
    once."""
    seed(sessions, JobSpec("collection", "collection", interval_s, "critical"))
    env = process_env(pg_url, tmp_path / "var", lease_ttl_s=2.0, idle_session_timeout_s=2.0)
    env["DUGOUT_TEST_FETCH_DELAY_S"] = fetch_delay_s
    procs = {}
    for name in ("s1", "s2"):
        procs[spawn_scheduler(processes, name, env).pid] = name
    holder, epoch = wait_for(lambda: lease(sessions)[0] and lease(sessions), 90)
    if fetch_delay_s != "0":
        wait_for(lambda: _fetching(sessions, holder), 90, step_s=0.05)
    else:
        wait_for(lambda: len(_ticks(sessions, "collection")) >= 3, 90)
    frozen = holder_pid(holder)
    os.kill(frozen, signal.SIGSTOP)  # alive, holding its sessions: idle_session_timeout ends one
    try:
        new_holder, _ = wait_for(lambda: (held := lease(sessions))[1] > epoch and held, 90)
        replaced_at = utcnow()  # the frozen process can write nothing until SIGCONT
        wait_for(lambda: not _in_flight(sessions, holder), 90)  # declared lost by the successor
        frozen_runs = [  # what it had in flight: the successor ended those
            r
            for r in runs(sessions, "collection")
            if r.actor == f"scheduler:{holder}" and r.error_type == "LeaderLost"
        ]
    finally:
        os.kill(frozen, signal.SIGCONT)
    wait_for(lambda: "steps down" in processes.log(procs[frozen]), 90)
    after = len(_ticks(sessions, "collection"))
    wait_for(lambda: len(_by(sessions, new_holder)) >= 3, 90)
    wait_for(lambda: len(_ticks(sessions, "collection")) >= after + 2, 90)
    processes.stop_all()  # the ledger at rest

    assert lease(sessions)[0] in (new_holder, None)  # released on SIGTERM, never taken back
    by_id = {r.id: r for r in runs(sessions, "collection")}
    ticks = {t.tick: t for t in assert_exactly_once(sessions)}
    for frozen_run in frozen_runs:
        row = by_id[frozen_run.id]
        assert (row.status, row.error_type) == ("interrupted", "LeaderLost")
        assert ("collect", "succeeded") not in stages_of(sessions, row.id)  # woken write failed
        assert data_rows_of(sessions, row.id) == 0
        tick = ticks[frozen_run.scheduled_for]
        assert tick.executions == 1 or tick.superseded, tick
    if fetch_delay_s != "0":
        assert frozen_runs, "the leader had no run in flight when it froze"
    woken = [
        (r.id, r.status, r.trigger)
        for r in runs(sessions)
        if r.actor == f"scheduler:{holder}" and r.created_at > replaced_at
    ]
    assert woken == []  # the woken leader created no run, not even a skip row


def _status(sessions, run_id) -> str | None:
    with sessions() as s:
        row = s.get(PipelineRun, run_id)
        return row.status if row is not None else None


def _by(sessions, holder: str) -> list[PipelineRun]:
    return [r for r in _ticks(sessions, "collection") if r.actor == f"scheduler:{holder}"]
