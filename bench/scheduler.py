"""Scheduler benchmark: dispatch lag through the full host vs a bare APScheduler job, and
failover time over repeated leader kills.

Prints figures; asserts nothing about time. Needs PostgreSQL (DUGOUT_TEST_PG, default
postgresql://postgres@127.0.0.1:5432/test): it works in a scratch database it drops at the end.
Run: .venv/bin/python bench/scheduler.py [--ticks 30] [--kills 10]
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
from datetime import UTC, datetime
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


def bare_lags(lags: list[float]) -> BackgroundScheduler:
    """A bare APScheduler MemoryJobStore job on anchored 1 s ticks, recording its lag."""

    def job() -> None:
        now = datetime.now(UTC)
        lags.append((now - latest_tick(1, now)).total_seconds())

    bare = BackgroundScheduler(timezone=UTC)
    bare.add_job(
        job,
        "interval",
        seconds=1,
        start_date=ANCHOR,
        id="bare",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=30,
    )
    return bare


DB_STORE_LAGS: list[float] = []


def record_db_store_lag() -> None:
    """The job of the bare APScheduler on a SQLAlchemy job store (stored by reference)."""
    now = datetime.now(UTC)
    DB_STORE_LAGS.append((now - latest_tick(1, now)).total_seconds())


def bare_db_store(url: str) -> BackgroundScheduler:
    """A bare APScheduler on the same PostgreSQL job store the host uses (its own table)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    bare = BackgroundScheduler(
        timezone=UTC,
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename="bench_bare_jobs")},
    )
    bare.add_job(
        record_db_store_lag,
        "interval",
        seconds=1,
        start_date=ANCHOR,
        id="bare_db",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=30,
        replace_existing=True,
    )
    return bare


def dispatch_lag(url: str, ticks: int) -> None:
    """Collection every second through the host (ledger: started_at - scheduled_for)."""
    db = Database(url)
    assert db.sessionmaker is not None
    sessions = db.sessionmaker
    seed_schedule(sessions, [JobSpec("collection", "collection", 1, "critical")])
    settings = load_settings({"database_url": url, "log_level": "WARNING"})
    executor = LocalExecutor(build_context(settings, sessions))
    with tempfile.TemporaryDirectory() as tmp:
        host = SchedulerHost(
            sessions=sessions,
            database_url=url,
            executor=executor,
            config=SchedulerConfig(),
            var_dir=Path(tmp),
            load_probe=lambda: LoadSample(0.0, 0.0),
        )
        bare: list[float] = []
        plain = bare_lags(bare)
        stored = bare_db_store(url)
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
    hosted = [(a - b).total_seconds() for a, b in rows if a and b]
    print(
        f"dispatch lag over {len(hosted)} host ticks and {len(bare)} bare ticks (1 s interval, "
        f"{os.cpu_count()} cores; the host to its run's start in the ledger, goal <= 2x bare)"
    )
    stored_lags = DB_STORE_LAGS
    for label, q in (("p50", 50), ("p99", 99)):
        h, b, d = (pct(v, q) * 1000 for v in (hosted, bare, stored_lags))
        print(
            f"  {label}: host {h:7.1f} ms   bare APScheduler {b:6.1f} ms (ratio {h / b:5.1f}x)   "
            f"bare on a PostgreSQL job store {d:6.1f} ms (ratio {h / d:5.1f}x)"
        )


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
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with scratch_database() as url:
        dispatch_lag(url, args.ticks)
    with scratch_database() as url:
        failover(url, args.kills, args.standby)


if __name__ == "__main__":
    main()
