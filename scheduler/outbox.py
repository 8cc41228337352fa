"""Database loss: the leader keeps scheduling into a local SQLite outbox, then replays it.

When the leader's heartbeat finds the main database unreachable, it starts a second APScheduler
on a local SQLite file under var_dir (its job store, ledger, breakers and alerts all live there)
and runs the pipelines against it. Once the main database answers again, the outbox is copied
into it table by table in foreign-key order. Every row keeps its UUID, so a replay inserts each
row at most once (ON CONFLICT DO NOTHING). A run whose tick already ran in the main database is
still recorded (without the tick key, its summary saying so), so every execution is in the ledger.

Hand-over is by lock, never by age: the host writing an outbox holds an exclusive flock on
`<outbox>.lock` until it has replayed it; another host replays an outbox only when it can take
that lock (its writer is gone). A replay resolves `scheduler:database_lost` and deletes the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, Table, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

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
    doubled_ticks: int = 0  # runs whose tick also ran in the main database


def _insert(table: Table, dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)


def _copy_rows(conn: Any, table: Table, rows: list[dict[str, Any]], dialect: str) -> int:
    """Insert `rows`, skipping any the database refuses; returns how many went in (counted
    from RETURNING, not from a driver's rowcount)."""
    try:
        with conn.begin_nested():
            return len(conn.execute(_insert(table, dialect), rows).all())
    except IntegrityError:  # a row the database will not take: row by row
        copied = 0
        for row in rows:
            try:
                with conn.begin_nested():
                    copied += len(conn.execute(_insert(table, dialect), [row]).all())
            except IntegrityError:
                continue
        return copied


def _untick_doubles(dst: Any, table: Table, rows: list[dict[str, Any]]) -> int:
    """Runs whose tick already has another run in the main database keep their execution on
    record without the tick key (the unique key would refuse them), attached to that run's
    family so the ledger's tally counts both executions of the tick; returns how many."""
    ticks = [(r["pipeline"], r["scheduled_for"]) for r in rows if r.get("scheduled_for")]
    if not ticks:
        return 0
    taken = {
        (p, t): i
        for p, t, i in dst.execute(
            select(table.c.pipeline, table.c.scheduled_for, table.c.id).where(
                tuple_(table.c.pipeline, table.c.scheduled_for).in_(ticks)
            )
        )
    }
    doubled = 0
    for row in rows:
        other = taken.get((row["pipeline"], row.get("scheduled_for")))
        if row.get("scheduled_for") and other is not None and other != row["id"]:
            row["summary"] = {
                **(row.get("summary") or {}),
                "replayed": f"tick {row['scheduled_for'].isoformat()} also ran as run {other}",
            }
            row["scheduled_for"] = None
            if row.get("parent_run_id") is None:  # one family with the tick's run: counted
                row["parent_run_id"] = other
            doubled += 1
    return doubled


def replay_outbox(local: Engine, main: Engine, batch: int = 500) -> ReplayReport:
    """Copy every outbox row into the main database once; safe to run again."""
    report = ReplayReport()
    tables = [t for t in Base.metadata.sorted_tables if t.name in OUTBOX_TABLES]
    with local.connect() as src, main.begin() as dst:
        for table in tables:
            rows = [dict(r) for r in src.execute(select(table)).mappings()]
            if table.name == "pipeline_runs":
                report.doubled_ticks = _untick_doubles(dst, table, rows)
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
        self.lock_fd: int | None = None

    def start(
        self,
        specs: dict[str, JobSpec],
        kill_engaged: bool,
        last_ticks: dict[str, datetime],
        reason: str,
    ) -> None:
        """Take the outbox's lock, open (or reopen) it and schedule the cached jobs into it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.lock_fd is None:
            self.lock_fd = take_lock(self.path)
            if self.lock_fd is None:
                raise RuntimeError(f"outbox {self.path} is locked by another process")
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

    def replay(self, main: Engine) -> ReplayReport | None:
        """Copy the outbox into the main database, delete it, and let go of its lock (also when
        the replay fails: the next leader replays it then)."""
        fd, self.lock_fd = self.lock_fd, None
        if fd is None:
            return replay_file(self.path, main)
        try:
            return replay_file(self.path, main, held=fd)
        except BaseException:
            release_lock(fd)
            raise

    def release(self) -> None:
        """Let go of the outbox's lock without replaying (the process is stopping)."""
        release_lock(self.lock_fd)
        self.lock_fd = None


def outbox_path(var_dir: Path, identity: str) -> Path:
    """This host's outbox file (one per process, so two hosts never write the same file)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in identity)
    return var_dir / f"outbox-{safe}.sqlite3"


def lock_path(path: Path) -> Path:
    """The lock file its writer holds while an outbox is in use."""
    return path.with_name(path.name + ".lock")


def take_lock(path: Path) -> int | None:
    """Take the outbox's exclusive lock without waiting: the fd, or None while another process
    holds it (it is still writing or replaying that outbox)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release_lock(fd: int | None) -> None:
    """Let go of an outbox lock."""
    if fd is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def leftover_outboxes(var_dir: Path, own: Path) -> list[Path]:
    """Outboxes of other processes never replayed (whether their writer is gone is decided by
    the lock when they are replayed, never by their age)."""
    return sorted(p for p in var_dir.glob("outbox-*.sqlite3") if p != own)


def outboxes_in_use(var_dir: Path, own: Path) -> list[Path]:
    """Other hosts' outboxes whose writer still holds the lock (it schedules into it now)."""
    busy = []
    for path in leftover_outboxes(var_dir, own):
        fd = take_lock(path)
        if fd is None:
            busy.append(path)
        release_lock(fd)
    return busy


def replay_file(path: Path, main: Engine, *, held: int | None = None) -> ReplayReport | None:
    """Replay one outbox into `main`, resolve the database-lost alert, delete the file. Returns
    None (nothing done) while another process holds the outbox's lock; `held` is the lock fd
    when the caller holds it already (its own outbox)."""
    fd = held if held is not None else take_lock(path)
    if fd is None:
        log.info("outbox in use by its writer; not replayed", extra={"outbox": str(path)})
        return None
    try:
        if not path.exists():
            return ReplayReport()
        local = build_engine(f"sqlite:///{path.resolve()}")
        try:
            report = replay_outbox(local, main)
        finally:
            local.dispose()
        AlertBook(sessionmaker(main, expire_on_commit=False)).resolve(DATABASE_LOST)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        lock_path(path).unlink(missing_ok=True)
        log.warning(
            "outbox replayed",
            extra={
                "outbox": str(path),
                "copied": report.copied,
                "skipped": report.skipped,
                "doubled_ticks": report.doubled_ticks,
            },
        )
        return report
    finally:
        release_lock(fd)
