"""Scheduler benchmark: dispatch lag through the full host vs a bare APScheduler job, and
failover time over repeated leader kills.

Dispatch lag is time from a job's scheduled tick until its work begins: for the host, until
the run's first stage begins (its ledger row committed: guards, executor hand-off and the
ledger's open all count), and until its `started_at`; for bare APScheduler, until its job
function begins, on a memory job store and on a PostgreSQL job store built as the host's. All
use thread-pool executors and run at once in this process, each at its own phase of the
second, so none waits for another.

Prints figures; asserts nothing about time. Needs PostgreSQL (DUGOUT_TEST_PG, default
postgresql://postgres@127.0.0.1:5432/test): it works in a scratch database it drops at the end.
Run: .venv/bin/python bench/scheduler.py [--ticks 30] [--kills 10] [--hops]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402

from app.config import load_settings  # noqa: E402
from app.db import Database  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import PipelineRun, SchedulerLease  # noqa: E402
from app.pipelines.build import build_context  # noqa: E402
from app.pipelines.context import RunObserver  # noqa: E402
from scheduler.config import SchedulerConfig  # noqa: E402
from scheduler.executors import LocalExecutor  # noqa: E402
from scheduler.host import SchedulerHost  # noqa: E402
from scheduler.resilience import LoadSample  # noqa: E402
from scheduler.schedule import ANCHOR, JobSpec, latest_tick, seed_schedule  # noqa: E402

PG_ADMIN = os.environ.get("DUGOUT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated scratch PostgreSQL database, dropped afterwards."""
    name = f"dugout_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN).replace("postgresql://", "postgresql+psycopg://")
    db = Database(url)
    assert db.engine is not None
    upgrade(db.engine)
    db.dispose()
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# The three schedulers share the process but never the moment: each fires at its own phase
# of the second, so none waits for another's thread (the host's ticks are the whole seconds).
BARE_MEMORY_PHASE_S = 0.333
BARE_DB_PHASE_S = 0.667


def _lag_s(phase_s: float) -> float:
    """Seconds since the latest tick of a 1 s job anchored at `phase_s` into the second."""
    now = datetime.now(UTC)
    shifted = now - timedelta(seconds=phase_s)
    return (shifted - latest_tick(1, shifted)).total_seconds()


BARE_LAGS: dict[str, list[float]] = {"memory": [], "db": []}


def record_memory_store_lag() -> None:
    """The job of the bare APScheduler on a memory job store."""
    BARE_LAGS["memory"].append(_lag_s(BARE_MEMORY_PHASE_S))


def record_db_store_lag() -> None:
    """The job of the bare APScheduler on a SQLAlchemy job store (stored by reference)."""
    BARE_LAGS["db"].append(_lag_s(BARE_DB_PHASE_S))


def bare_scheduler(url: str | None) -> BackgroundScheduler:
    """A bare APScheduler with the host's executor kind (a thread pool) and job options, on a
    memory job store, or with `url` on a PostgreSQL job store built as the host builds its own
    (pre-pinged pool, its own table)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from app.db import build_engine

    stores = (
        {
            "default": SQLAlchemyJobStore(
                engine=build_engine(url, pool_pre_ping=True), tablename="bench_bare_jobs"
            )
        }
        if url
        else {}
    )
    bare = BackgroundScheduler(
        timezone=UTC,
        jobstores=stores,
        executors={"default": ThreadPoolExecutor(SchedulerConfig().critical_threads)},
    )
    phase = BARE_DB_PHASE_S if url else BARE_MEMORY_PHASE_S
    bare.add_job(
        record_db_store_lag if url else record_memory_store_lag,
        "interval",
        seconds=1,
        start_date=ANCHOR + timedelta(seconds=phase),
        id="bare_db" if url else "bare",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=30,
        replace_existing=True,
    )
    return bare


class RunOpenedAt(RunObserver):
    """When each scheduled run's ledger row was committed and its first stage began."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    def run_opened(
        self, run_id: Any, pipeline: str, trigger: str, scheduled_for: Any, now: Any
    ) -> None:
        if scheduled_for is not None:
            self.lags.append((datetime.now(UTC) - scheduled_for).total_seconds())


HOPS: dict[str, list[float]] = {}


def probe_hops() -> None:
    """Stamp each hop of the host's dispatch path, in ms after its tick (--hops)."""
    import app.pipelines.ledger as ledger
    import app.pipelines.runner as runner
    import scheduler.dispatch as dispatch
    import scheduler.executors.local as local
    import scheduler.service as service

    def stamp(name: str) -> None:
        now = datetime.now(UTC)
        HOPS.setdefault(name, []).append((now - latest_tick(1, now)).total_seconds())

    def wrap(owner: Any, attr: str, before: str, after: str | None = None) -> Any:
        original = getattr(owner, attr)

        def probed(*args: Any, **kwargs: Any) -> Any:
            stamp(before)
            result = original(*args, **kwargs)
            if after:
                stamp(after)
            return result

        setattr(owner, attr, probed)
        return probed

    wrap(service.SQLAlchemyJobStore, "get_due_jobs", "1 loop reads due jobs", "2 due jobs read")
    wrap(service.TickExecutor, "_run", "3 tick's thread starts")
    wrap(dispatch.Dispatcher, "_guard", "4 guard starts", "5 guard done")
    wrap(local.LocalExecutor, "_run", "6 run's thread starts")
    runner.open_run = wrap(ledger, "open_run", "7 ledger open starts", "8 ledger open committed")


def dispatch_lag(url: str, ticks: int, hops: bool) -> None:
    """Collection every second through the host, against bare APScheduler jobs every second on
    a memory job store and on a PostgreSQL job store, all in this process at their own phases."""
    db = Database(url)
    assert db.sessionmaker is not None
    sessions = db.sessionmaker
    seed_schedule(sessions, [JobSpec("collection", "collection", 1, "critical")])
    settings = load_settings({"database_url": url, "log_level": "WARNING"})
    opened = RunOpenedAt()
    executor = LocalExecutor(build_context(settings, sessions, observers=[opened]))
    if hops:
        probe_hops()
    with tempfile.TemporaryDirectory() as tmp:
        host = SchedulerHost(
            sessions=sessions,
            database_url=url,
            executor=executor,
            config=SchedulerConfig(),
            var_dir=Path(tmp),
            load_probe=lambda: LoadSample(0.0, 0.0),
        )
        plain, stored = bare_scheduler(None), bare_scheduler(url)
        host.start()
        plain.start()
        stored.start()
        time.sleep(ticks + 3)
        stored.shutdown()
        plain.shutdown()
        host.stop()
    executor.shutdown()
    with sessions() as s:
        rows = s.execute(
            select(PipelineRun.started_at, PipelineRun.scheduled_for).where(
                PipelineRun.trigger == "schedule"
            )
        ).all()
    db.dispose()
    ledger = [(a - b).total_seconds() for a, b in rows if a and b]
    series = {
        "host, tick to its first stage": opened.lags,
        "host, tick to started_at in the ledger": ledger,
        "bare APScheduler, memory job store": BARE_LAGS["memory"],
        "bare APScheduler, PostgreSQL job store": BARE_LAGS["db"],
    }
    load = os.getloadavg()
    print(
        f"dispatch lag, 1 s interval, {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} / {load[1]:.1f}; each scheduler at its own phase of the second, "
        f"thread-pool executors (goal: host / bare APScheduler <= 2)"
    )
    for label, values in series.items():
        p50, p99 = (pct(values, q) * 1000 for q in (50, 99))
        print(f"  {label:40} n={len(values):3}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    host_p50 = pct(opened.lags, 50)
    for label in ("bare APScheduler, memory job store", "bare APScheduler, PostgreSQL job store"):
        print(f"  host / {label}: p50 {host_p50 / pct(series[label], 50):4.1f}x")
    if hops:
        print("  where the host's time goes (p50 ms after the tick, each hop's first stamp):")
        for name in sorted(HOPS):
            values = [v for v in HOPS[name] if v < 0.2]  # near the tick: not idle loop wakes
            if values:
                print(f"    {name:28} {pct(values, 50) * 1000:6.1f}")


def _lease(sessions: Any) -> tuple[str | None, int]:
    with sessions() as s:
        row = s.get(SchedulerLease, "scheduler")
        return (row.holder, row.epoch) if row else (None, 0)


def _spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def failover(url: str, kills: int, standby: int) -> None:
    """SIGKILL the leader `kills` times among `standby + 1` processes; time to a new leader
    and to its first scheduled run."""
    db = Database(url)
    assert db.sessionmaker is not None
    sessions = db.sessionmaker
    seed_schedule(sessions, [JobSpec("collection", "collection", 1, "critical")])
    env = {
        **os.environ,
        "DUGOUT_DATABASE_URL": url,
        "DUGOUT_LOG_LEVEL": "WARNING",
        "DUGOUT_SECRET_KEY": "bench",
        "PYTHONPATH": str(ROOT),
    }
    procs = {p.pid: p for p in (_spawn(env) for _ in range(standby + 1))}
    lease_s: list[float] = []
    run_s: list[float] = []
    try:
        for _ in range(kills):
            holder, epoch = _lease(sessions)
            while holder is None or int(holder.split(":")[-2]) not in procs:
                time.sleep(0.05)
                holder, epoch = _lease(sessions)
            victim = procs.pop(int(holder.split(":")[-2]))
            killed = time.monotonic()
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            while _lease(sessions)[1] <= epoch:
                time.sleep(0.02)
            lease_s.append(time.monotonic() - killed)
            new = _lease(sessions)[0]
            while not _ran(sessions, f"scheduler:{new}"):
                time.sleep(0.02)
            run_s.append(time.monotonic() - killed)
            proc = _spawn(env)
            procs[proc.pid] = proc
            time.sleep(2.0)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(30)
        db.dispose()
    print(
        f"failover over {kills} SIGKILLs of the leader ({standby} standbys, heartbeat "
        f"{SchedulerConfig().heartbeat_s:.0f} s)"
    )
    print(
        f"  new leader:        p50 {statistics.median(lease_s):5.2f} s   max {max(lease_s):5.2f} s"
    )
    print(f"  its first run:     p50 {statistics.median(run_s):5.2f} s   max {max(run_s):5.2f} s")


def _ran(sessions: Any, actor: str) -> bool:
    with sessions() as s:
        return (
            s.scalar(select(PipelineRun.id).where(PipelineRun.actor == actor).limit(1)) is not None
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--standby", type=int, default=2)
    parser.add_argument("--hops", action="store_true", help="also stamp each hop of the host")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with scratch_database() as url:
        dispatch_lag(url, args.ticks, args.hops)
    if args.kills:
        with scratch_database() as url:
            failover(url, args.kills, args.standby)


if __name__ == "__main__":
    main()
