"""Helpers for scheduler integration tests: hosts in this process over real pipelines, a source
that fails on demand, and polling of the ledger with a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text

from app.db import Base, Database, build_engine, utcnow
from app.models import (
    JobSchedule,
    OpportunityRow,
    PipelineRun,
    QuarantinedRow,
    SchedulerLease,
    SourceSnapshot,
    StageRun,
)
from app.pipelines.build import demo_day_for
from app.pipelines.context import PipelineContext
from app.pipelines.sources.base import Source, SourceUnavailable
from app.pipelines.sources.demo import DemoSource
from app.pipelines.strategies import build_strategies
from scheduler.config import SchedulerConfig
from scheduler.executors import LocalExecutor
from scheduler.host import SchedulerHost
from scheduler.resilience import LoadSample
from scheduler.schedule import JobSpec, seed_schedule
from scheduler.tally import tally_ticks

FAST = {
    "heartbeat_s": 0.3,
    "lease_ttl_s": 2.0,
    "idle_session_timeout_s": 3.0,
    "command_poll_s": 0.2,
    "retry_base_s": 0.05,
    "retry_jitter": 0.0,
    "loop_interval_s": 0.5,
    "loop_stale_s": 2.0,
    "queue_poll_s": 0.1,
}


def clean(url: str) -> None:
    """Empty every Dugout table and drop APScheduler's, so each test starts from nothing."""
    engine = build_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))  # fail clearly, never hang
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # audit: append-only
        conn.execute(text(f"TRUNCATE {names} CASCADE"))
        conn.execute(text("DROP TABLE IF EXISTS scheduled_jobs"))
    engine.dispose()


class FlakySource(Source):
    """The demo market, failing on demand (`fail` more times, or always when `always`)."""

    name = "demo"
    title = "Demo market"

    def __init__(self) -> None:
        super().__init__()
        self.inner = DemoSource(seed=42, day=demo_day_for(utcnow()))
        self.fail = 0
        self.always = False

    def _fetch(self, now: datetime) -> Any:
        if self.always or self.fail > 0:
            self.fail -= 1
            raise SourceUnavailable(self.name, "the demo market is down (test)", 503)
        return self.inner._fetch(now)


class HostBundle:
    """A scheduler host in this process with its own connection pool, executor and source."""

    def __init__(self, url: str, var_dir: Path, identity: str, **config: Any) -> None:
        self.db = Database(url)
        assert self.db.sessionmaker is not None
        self.sessions = self.db.sessionmaker
        self.source = FlakySource()
        ctx = PipelineContext(
            sessions=self.sessions, sources=[self.source], strategies=build_strategies()
        )
        self.executor = LocalExecutor(ctx, max_workers=4, critical_workers=2)
        self.config = SchedulerConfig(**{**FAST, **config})
        self.host = SchedulerHost(
            sessions=self.sessions,
            database_url=url,
            executor=self.executor,
            config=self.config,
            var_dir=var_dir,
            identity=identity,
            load_probe=lambda: LoadSample(0.0, 0.0),
        )

    def stop(self) -> None:
        self.host.stop()
        self.executor.shutdown(wait=True)
        self.db.dispose()


def seed(sessions: Any, *specs: JobSpec) -> None:
    """Seed exactly these jobs (the defaults would run grading and chains we do not watch)."""
    seed_schedule(sessions, specs)


# Deadlines only bound a run that is failing: a loaded machine (CI beside other work) does
# everything several times slower, and a passing run never waits for a deadline.
DEADLINE_SCALE = 4.0


def wait_for(predicate: Callable[[], Any], timeout_s: float, step_s: float = 0.1) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout_s` (scaled by
    DEADLINE_SCALE)."""
    timeout_s *= DEADLINE_SCALE
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        time.sleep(step_s)


def runs(sessions: Any, pipeline: str | None = None) -> list[PipelineRun]:
    """Every run (of one pipeline), oldest first."""
    with sessions() as s:
        q = select(PipelineRun).order_by(PipelineRun.created_at)
        if pipeline:
            q = q.where(PipelineRun.pipeline == pipeline)
        return list(s.scalars(q).all())


def set_enabled(sessions: Any, job_id: str, enabled: bool) -> None:
    with sessions.begin() as s:
        s.get(JobSchedule, job_id).enabled = enabled


# --- real processes ------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[3]


def process_env(url: str, var_dir: Path, **scheduler: Any) -> dict[str, str]:
    """The environment of a Dugout process on `url` with fast scheduler settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUGOUT_")}
    env.update(
        {
            "DUGOUT_DATABASE_URL": url,
            "DUGOUT_VAR_DIR": str(var_dir),
            "DUGOUT_LOG_LEVEL": "INFO",
            "DUGOUT_SECRET_KEY": "test-secret-key",
            "DUGOUT_SCHEDULER_ENABLED": "true",
            # a SIGSTOPped leader's open transaction must not block its successor for long
            "DUGOUT_DB_IDLE_IN_TRANSACTION_TIMEOUT_S": "2",
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        }
    )
    settings = {
        "heartbeat_s": 0.5,
        "lease_ttl_s": 3.0,
        "idle_session_timeout_s": 5.0,
        "command_poll_s": 0.5,
        # the shared 2-core test machine often sits at 100% CPU, which would defer every chained
        # (default-priority) run; the throttle has its own tests on an injected load probe
        "throttle_cpu_pct": 101.0,
        "throttle_mem_pct": 101.0,
        **scheduler,
    }
    for key, value in settings.items():
        env[f"DUGOUT_SCHEDULER_{key.upper()}"] = str(value)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Child processes of a test, each in its own session; all are ended at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def lease(sessions: Any) -> tuple[str | None, int]:
    """The lease holder and epoch."""
    with sessions() as s:
        row = s.get(SchedulerLease, "scheduler")
        return (row.holder, row.epoch) if row else (None, 0)


def holder_pid(holder: str) -> int:
    """The process id inside a holder name (host:pid:random)."""
    return int(holder.split(":")[-2])


def log_events(text_: str, message: str) -> list[dict[str, Any]]:
    """JSON log lines with this message."""
    found = []
    for line in text_.splitlines():
        if message in line and line.startswith("{"):
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


# --- a throwaway PostgreSQL cluster (tests that stop and start the server) ----------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class ThrowawayCluster:
    """A PostgreSQL cluster of this test's own on a free port (never the shared server)."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="dugout-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/dugout"

    def _as_postgres(self, command: str) -> None:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True)
        else:
            subprocess.run(["sh", "-c", command], check=True, capture_output=True)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
        self._as_postgres(f"{PG_BIN}/initdb -D {self.data} -U postgres --auth=trust")
        self.start()
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE dugout")

    def start(self) -> None:
        self._as_postgres(
            f"{PG_BIN}/pg_ctl -D {self.data} -l {self.base}/server.log -w "
            f"-o '-p {self.port} -k /tmp -c listen_addresses=127.0.0.1' start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -m {mode} -w stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


# --- the ledger at rest ---------------------------------------------------------------------

HERE = Path(__file__).resolve().parent


def spawn_scheduler(
    processes: Processes, name: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """A `dugout scheduler` process whose demo source waits DUGOUT_TEST_FETCH_DELAY_S."""
    return processes.spawn(name, [sys.executable, str(HERE / "slow_scheduler_main.py")], env)


def stages_of(sessions: Any, run_id: Any) -> list[tuple[str, str]]:
    """(stage, status) of a run's stage rows."""
    with sessions() as s:
        rows = s.scalars(select(StageRun).where(StageRun.run_id == run_id)).all()
        return sorted((r.stage, r.status) for r in rows)


def data_rows_of(sessions: Any, run_id: Any) -> int:
    """Snapshots, opportunities and quarantined rows a run wrote."""
    with sessions() as s:
        return sum(
            s.scalar(select(func.count()).select_from(m).where(m.run_id == run_id)) or 0
            for m in (SourceSnapshot, OpportunityRow, QuarantinedRow)
        )


def assert_exactly_once(
    sessions: Any, pipelines: tuple[str, ...] = ("collection",), until: Any = None
) -> Any:
    """Read the ledger at rest: at most one execution per tick, nothing stuck in `running`, every
    interrupted tick retried or superseded. Returns the tallies. With `until`, only ticks up to
    it count: a tick still running when the test stopped every process is interrupted by that
    stop, and no host is left to retry it (that is the harness, not the fault under test)."""
    with sessions() as s:
        ticks = tally_ticks(s, pipelines=pipelines)
        stuck = s.scalars(select(PipelineRun).where(PipelineRun.status.in_(("running", "queued"))))
        stuck_rows = [(r.id, r.pipeline, r.status) for r in stuck]
    if until is not None:
        ticks = [t for t in ticks if t.tick <= until]
    assert ticks, "no ticks in the ledger"
    doubled = [(t.tick, t.statuses, t.executions, t.data_runs) for t in ticks if t.doubled]
    lost = [(t.tick, t.statuses) for t in ticks if t.lost]
    assert doubled == [], f"ticks executed twice: {doubled}"
    assert lost == [], f"interrupted ticks never retried: {lost}"
    assert stuck_rows == [], f"runs left unfinished: {stuck_rows}"
    return ticks
