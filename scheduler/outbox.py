"""Database loss: the leader keeps scheduling into a local SQLite outbox, then replays it.

When the leader's heartbeat finds the main database unreachable, it starts a second APScheduler
on a local SQLite file under var_dir (its job store, ledger, breakers and alerts all live there)
and runs the pipelines against it. Once the main database answers again, the outbox is copied
into it table by table in foreign-key order. Every row keeps its UUID, so a replay inserts each
row at most once (ON CONFLICT DO NOTHING); a run whose tick already ran elsewhere is dropped with
its children, so nothing is doubled. The replayed file is kept, renamed, for inspection.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.db import Base, Database, build_engine
from app.migrate import upgrade
from app.models import JobSchedule
from scheduler.alerts import DATABASE_LOST, AlertBook
from scheduler.config import SchedulerConfig
from scheduler.control import KillSwitch
from scheduler.executors import LocalExecutor
from scheduler.queue import DbQueue
from scheduler.resilience import LoadSample
from scheduler.schedule import JobSpec, latest_tick, load_schedule
from scheduler.service import SchedulerService
from scheduler.watchdog import Supervisor

log = logging.getLogger("dugout.scheduler.outbox")
# What a run produces, in the order foreign keys need; control tables stay behind.
OUTBOX_TABLES = (
    "pipeline_runs",
    "stage_runs",
    "games",
    "source_snapshots",
    "quotes",
    "splits",
    "quarantined_rows",
    "opportunities",
    "recommendations",
    "grades",
    "alerts",
)


def database_reachable(dsn: str, timeout_s: int = 2) -> bool:
    """True when the main PostgreSQL database accepts a connection and answers."""
    try:
        with psycopg.connect(dsn, connect_timeout=timeout_s, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


@dataclass(slots=True)
class ReplayReport:
    """Rows copied into the main database and rows it already had (or could not take)."""

    copied: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def _insert(table: Table, dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def _copy_rows(conn: Any, table: Table, rows: list[dict[str, Any]], dialect: str) -> int:
    """Insert `rows`, skipping any the database refuses; returns how many went in."""
    try:
        with conn.begin_nested():
            return int(conn.execute(_insert(table, dialect), rows).rowcount or 0)
    except IntegrityError:  # a parent row was dropped (its tick ran elsewhere): row by row
        copied = 0
        for row in rows:
            try:
                with conn.begin_nested():
                    copied += int(conn.execute(_insert(table, dialect), [row]).rowcount or 0)
            except IntegrityError:
                continue
        return copied


def replay_outbox(local: Engine, main: Engine, batch: int = 500) -> ReplayReport:
    """Copy every outbox row into the main database once; safe to run again."""
    report = ReplayReport()
    tables = [t for t in Base.metadata.sorted_tables if t.name in OUTBOX_TABLES]
    with local.connect() as src, main.begin() as dst:
        for table in tables:
            rows = [dict(r) for r in src.execute(select(table)).mappings()]
            copied = 0
            for start in range(0, len(rows), batch):
                copied += _copy_rows(dst, table, rows[start : start + batch], main.dialect.name)
            report.copied[table.name] = copied
            report.skipped[table.name] = len(rows) - copied
    return report


class LocalMode:
    """The leader's scheduler while the main database is lost, writing to a local outbox."""

    def __init__(
        self,
        *,
        path: Path,
        executor: LocalExecutor,
        config: SchedulerConfig,
        actor: str,
        clock: Callable[[], datetime],
        build_dispatcher: Callable[..., Any],
        load_probe: Callable[[], LoadSample] | None = None,
    ) -> None:
        self.path = path
        self.url = f"sqlite:///{self.path.resolve()}"
        self.main_executor = executor
        self.config = config
        self.actor = actor
        self.clock = clock
        self.build_dispatcher = build_dispatcher
        self.load_probe = load_probe
        self.db: Database | None = None
        self.executor: LocalExecutor | None = None
        self.supervisor: Supervisor | None = None

    def start(
        self,
        specs: dict[str, JobSpec],
        kill_engaged: bool,
        last_ticks: dict[str, datetime],
        reason: str,
    ) -> None:
        """Open (or reopen) the outbox and schedule the cached jobs into it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self.db = Database(self.url)
        assert db.engine is not None and db.sessionmaker is not None
        upgrade(db.engine)
        self.path.chmod(0o600)  # job state is pickled: keep the file private
        sessions = db.sessionmaker
        with sessions.begin() as session:
            session.execute(delete(JobSchedule))
            session.add_all(
                [
                    JobSchedule(
                        job_id=s.job_id,
                        pipeline=s.pipeline,
                        interval_s=s.interval_s,
                        priority=s.priority,
                        enabled=s.enabled,
                    )
                    for s in specs.values()
                ]
            )
            KillSwitch(sessions, self.clock).set(session, kill_engaged)
        ctx = replace(self.main_executor.context(), sessions=sessions)
        executor = self.executor = LocalExecutor(
            ctx, max_workers=self.config.run_threads, critical_workers=self.config.critical_threads
        )
        dispatcher = self.build_dispatcher(
            sessions,
            executor,
            self.config,
            later=self._later,
            actor=self.actor,
            clock=self.clock,
            load_probe=self.load_probe,
        )
        self.supervisor = Supervisor(
            make_service=lambda: SchedulerService(
                engine_factory=lambda: build_engine(self.url),
                dispatcher=dispatcher,
                config=self.config,
            ),
            dispatcher=dispatcher,
            specs=lambda: load_schedule(sessions),
            queue=DbQueue(sessions, lock_dir=self.path.parent, clock=self.clock),
            kill_switch=KillSwitch(sessions, self.clock),
            alerts=AlertBook(sessions, self.clock),
            config=self.config,
            name=f"outbox:{self.actor}",
            first_runs=self._first_runs(specs, last_ticks),
        )
        self.supervisor.start()
        AlertBook(sessions, self.clock).raise_(
            DATABASE_LOST,
            "Main database unreachable: scheduling into the local outbox",
            f"{reason}. Runs are kept in {self.path} and replayed when the database returns.",
        )

    def _first_runs(
        self, specs: dict[str, JobSpec], last_ticks: dict[str, datetime]
    ) -> dict[str, datetime]:
        """Continue each job after its last dispatched tick (the one due now included)."""
        now, first = self.clock(), {}
        for spec in specs.values():
            if spec.chained:
                continue
            due = latest_tick(spec.interval_s, now)
            last = last_ticks.get(spec.job_id)
            if last is not None and last >= due:
                due = last + timedelta(seconds=spec.interval_s)
            first[spec.job_id] = due
        return first

    def _later(self, order: Any, at: datetime) -> None:
        assert self.supervisor is not None
        self.supervisor.later(order, at)

    def tick(self) -> None:
        """Watchdog round and fallback ticks of the local scheduler."""
        if self.supervisor is not None:
            self.supervisor.check()
            self.supervisor.tick(self.clock())

    def stop(self) -> None:
        """Stop scheduling locally, waiting for local runs to end."""
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        if self.db is not None:
            self.db.dispose()

    def replay(self, main: Engine) -> ReplayReport:
        """Copy the outbox into the main database, then set the file aside."""
        return replay_file(self.path, main)


def outbox_path(var_dir: Path, identity: str) -> Path:
    """This host's outbox file (one per process, so two hosts never write the same file)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in identity)
    return var_dir / f"outbox-{safe}.sqlite3"


def leftover_outboxes(var_dir: Path, own: Path, quiet_s: float = 60.0) -> list[Path]:
    """Outboxes of earlier processes that were never replayed (untouched for `quiet_s`)."""
    cutoff = time.time() - quiet_s
    return sorted(
        p
        for p in var_dir.glob("outbox-*.sqlite3")
        if p != own and not p.name.endswith(".replayed.sqlite3") and p.stat().st_mtime < cutoff
    )


def replay_file(path: Path, main: Engine) -> ReplayReport:
    """Replay one outbox file into `main` and rename it `*.replayed.sqlite3`."""
    local = build_engine(f"sqlite:///{path.resolve()}")
    try:
        report = replay_outbox(local, main)
    finally:
        local.dispose()
    done = path.with_name(f"{path.stem}.{int(time.time())}.replayed.sqlite3")
    src, dst = sqlite3.connect(path), sqlite3.connect(done)
    try:  # a consistent copy (WAL included) that stands alone, then the outbox goes
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    done.chmod(0o600)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    log.warning(
        "outbox replayed",
        extra={"copied": report.copied, "skipped": report.skipped, "kept_as": str(done)},
    )
    return report
