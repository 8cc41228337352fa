"""The run ledger's one writer: every `pipeline_runs` and `stage_runs` row is made and changed here.

A run writes under a term: its own claim (a token on the run row, renewed by a heartbeat) and,
when a scheduler leader executes it in its own process, that leader's epoch. Every transaction
a run makes (ledger rows and, through `RunHandle.sessions`, its data rows) checks that term
inside the transaction itself, so a writer that froze between a check and its write cannot get
through: its transaction fails whole with `StaleWriter` and the row stays as the new owner set it.

A run costs at most (stages + 2) transactions: opening the run starts its first stage, each
boundary finishes one stage and starts the next (skipped stages written with it), and the last
stage finishes with the run.

A replay of the past (`dugout demo seed`) writes through the batch entry instead, `RunBatch`:
many runs and the data rows of their stages in one transaction, run and stage rows in bulk.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    event,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import PreparedStatement
from app.models import (
    PipelineRun,
    QuarantinedRow,
    QuoteRow,
    SchedulerLease,
    SourceSnapshot,
    SplitRow,
    StageRun,
)
from app.observability.logging import new_correlation_id
from app.rollups.invalidation import defer, forget, forget_deferred, stop_deferring

log = logging.getLogger("dugout.pipelines.ledger")
LEASE_NAME = "scheduler"
UNFINISHED = ("queued", "running")


class DuplicateTick(Exception):
    """This (pipeline, scheduled_for) tick already has a run: it must not run twice."""


class StaleWriter(RuntimeError):
    """The run's term is over (a newer leader, or its claim was taken or ended): the write was
    rolled back and this process must stop working on the run."""

    def __init__(self, run_id: uuid.UUID, why: str) -> None:
        super().__init__(f"run {run_id}: {why}")
        self.run_id = run_id
        self.why = why


@dataclass(frozen=True, slots=True)
class Interruption:
    """Why runs stopped without ending: the error type and message written on their rows."""

    error_type: str
    message: str


@dataclass(frozen=True, slots=True)
class RunOpening:
    """Everything the run row holds when the run starts (or is queued)."""

    pipeline: str
    trigger: str
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)
    scheduled_for: datetime | None = None
    actor: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None
    trace_id: str | None = None
    attempt: int = 1
    parent_run_id: uuid.UUID | None = None
    leader_epoch: int | None = None  # set: the writes check this leader epoch too


@dataclass(frozen=True, slots=True)
class StageRecord:
    """One stage as the ledger keeps it."""

    stage: str
    status: str
    started_at: datetime
    finished_at: datetime
    duration_ms: float = 0.0
    records_in: int = 0
    records_out: int = 0
    error_type: str | None = None
    error_message: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunEnding:
    """How a run ended, as written on its row."""

    status: str
    duration_ms: float
    summary: dict[str, Any]
    error_type: str | None = None
    error_message: str | None = None


def retry_run_id(parent_run_id: uuid.UUID, attempt: int) -> uuid.UUID:
    """The run id of attempt `attempt` retrying `parent_run_id`: the same for every path that
    retries it (dispatcher, redelivered task, recovery), so an attempt is opened at most once."""
    return uuid.uuid5(parent_run_id, f"attempt-{attempt}")


def new_token() -> str:
    """A fresh claim token."""
    return uuid.uuid4().hex


# The statements every run executes a few times, built once with bound parameters and
# compiled once per dialect (PreparedStatement): building, cache-keying and processing them
# through SQLAlchemy for each call was most of a no-op run's CPU. They run as Core; the one
# that adds a row to a table rollups read (the run's row) forgets its slices itself.
_RUNS = cast(Table, PipelineRun.__table__)
_STAGES = cast(Table, StageRun.__table__)
_RENEW = PreparedStatement(
    update(_RUNS)
    .where(
        _RUNS.c.id == bindparam("b_run_id"),
        _RUNS.c.claim_token == bindparam("b_token"),
        _RUNS.c.status == "running",
    )
    .values(heartbeat_at=bindparam("b_now"))
)
_STAGE_FIELDS = (
    "status",
    "finished_at",
    "duration_ms",
    "records_in",
    "records_out",
    "error_type",
    "error_message",
    "detail",
)
_CLOSE_STAGE = PreparedStatement(
    update(_STAGES)
    .where(_STAGES.c.id == bindparam("b_stage_id"))
    .values({f: bindparam(f"b_{f}") for f in _STAGE_FIELDS})
)
_ADD_STAGE = insert(_STAGES)


def _prepared_insert(table: Table, prefix: str) -> PreparedStatement:
    """A one-row INSERT of every column of `table`, its values bound as `prefix` + column."""
    return PreparedStatement(
        insert(table).values({c.name: bindparam(prefix + c.name, type_=c.type) for c in table.c})
    )


def _prefixed(prefix: str, row: dict[str, Any]) -> dict[str, Any]:
    return {prefix + k: v for k, v in row.items()}


_START_STAGE = _prepared_insert(_STAGES, "s_")


def _build_boundary() -> PreparedStatement:
    """One statement for a stage boundary: the stage that ended (its row exists: the conflict
    on its id closes it) and the stage that starts (a new row), as a two-row upsert. Written
    as text, which SQLAlchemy caches, where a multi-row insert construct is compiled anew each
    time; the same SQL runs on SQLite and PostgreSQL, and typed binds keep the column types."""
    columns = list(_STAGES.columns)
    rows = ", ".join(
        "(" + ", ".join(f":{side}_{c.name}" for c in columns) + ")" for side in ("e", "s")
    )
    closing = ", ".join(f"{f} = excluded.{f}" for f in _STAGE_FIELDS)
    names = ", ".join(c.name for c in columns)
    sql = (  # our own table's column names; the values are all bound
        f"INSERT INTO {_STAGES.name} ({names}) VALUES {rows} "  # noqa: S608
        f"ON CONFLICT (id) DO UPDATE SET {closing}"
    )
    return PreparedStatement(
        text(sql).bindparams(
            *[bindparam(f"{side}_{c.name}", type_=c.type) for side in ("e", "s") for c in columns]
        )
    )


_BOUNDARY = _build_boundary()

# The run's end is its claim's check too: the row changes only while this claim holds it.
_END_RUN = PreparedStatement(
    update(_RUNS)
    .where(
        _RUNS.c.id == bindparam("b_run_id"),
        _RUNS.c.claim_token == bindparam("b_token"),
        _RUNS.c.status == "running",
    )
    .values(
        status=bindparam("b_status"),
        finished_at=bindparam("b_finished_at"),
        duration_ms=bindparam("b_duration_ms"),
        summary=bindparam("b_summary"),
        error_type=bindparam("b_error_type"),
        error_message=bindparam("b_error_message"),
        claim_token=None,
    )
)
_ADD_RUN = _prepared_insert(_RUNS, "r_")
_EPOCH = PreparedStatement(
    select(SchedulerLease.epoch)
    .where(SchedulerLease.name == LEASE_NAME)
    .with_for_update(read=True)  # FOR SHARE on PostgreSQL; SQLite holds the write lock
)


@contextmanager
def _transaction(sessions: sessionmaker[Session]) -> Iterator[Connection]:
    """One transaction on the factory's engine as a bare connection: the ledger's own rows
    are Core statements, and a Session around them cost more than the statements."""
    bind = sessions.kw.get("bind")
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
        return
    with sessions.begin() as session:  # bound otherwise (a connection): through a session
        yield session.connection()


def _check_term(
    conn: Connection, run_id: uuid.UUID, token: str, epoch: int | None, now: datetime
) -> None:
    """Inside `conn`'s transaction: the run still holds its claim (renewing the heartbeat)
    and, when it has one, its leader's epoch is current; else StaleWriter."""
    claimed = _RENEW.execute(conn, {"b_run_id": run_id, "b_token": token, "b_now": now})
    if getattr(claimed, "rowcount", 0) != 1:
        raise StaleWriter(run_id, "its claim was taken or ended by another owner")
    _check_epoch(conn, run_id, epoch)


def _check_epoch(conn: Connection, run_id: uuid.UUID, epoch: int | None) -> None:
    """Inside `conn`'s transaction: the leader epoch is still `epoch` (PostgreSQL holds the
    lease row shared until commit, so a new leader's epoch bump waits for this write)."""
    if epoch is None:
        return
    current = _EPOCH.execute(conn, {}).scalar()
    if current != epoch:
        raise StaleWriter(run_id, f"leader epoch {epoch} is over (now {current})")


TERM_KEY = "dugout.run_term"


class _FencedSessions(sessionmaker[Session]):
    """The base factory's sessions, each carrying the run whose term its commits check."""

    def __init__(self, base: sessionmaker[Session], handle: RunHandle) -> None:
        # no sessionmaker.__init__: it would make a new Session class for every run
        self.class_ = base.class_
        self.kw = {**base.kw, "info": {**(base.kw.get("info") or {}), TERM_KEY: handle}}


@event.listens_for(Session, "before_commit")
def _fence_commit(session: Session) -> None:
    """A run's data rows commit only while the run still holds its term."""
    handle = session.info.get(TERM_KEY)
    if handle is None:
        return
    if session.new or session.dirty or session.deleted:
        session.flush()  # the data rows first, so SQLite holds the write lock
    _check_term(
        session.connection(), handle.run_id, handle.token, handle.leader_epoch, handle.clock()
    )


class RunHandle:
    """An open run: the one way its rows and its data rows are written while it runs."""

    def __init__(
        self,
        base: sessionmaker[Session],
        run_id: uuid.UUID,
        token: str,
        leader_epoch: int | None,
        clock: Any,
        opened_at: datetime | None = None,
    ) -> None:
        self.run_id = run_id
        self.token = token
        self.leader_epoch = leader_epoch
        self.clock = clock
        self.base = base
        self.stage_id: uuid.UUID | None = None
        # the run row's created_at and started_at, when this process wrote them (not a claim)
        self.opened_at = opened_at
        self.sessions = self._fenced(base)
        # one pooled connection for the run's own ledger transactions, from its opening to its
        # end: a checkout per transaction cost a ping (pool_pre_ping) and a reset each time
        self._conn: Connection | None = None

    @contextmanager
    def _ledger_transaction(self) -> Iterator[Connection]:
        """One transaction of the runner's thread on the run's own connection."""
        bind = self.base.kw.get("bind")
        if not isinstance(bind, Engine):
            with _transaction(self.base) as conn:
                yield conn
            return
        if self._conn is None or self._conn.closed:
            self._conn = bind.connect()
        with self._conn.begin():
            yield self._conn

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _fenced(self, base: sessionmaker[Session]) -> sessionmaker[Session]:
        """A session factory whose every commit checks this run's term first."""
        return _FencedSessions(base, self)

    def _stage_rows(
        self, conn: Connection, finished: StageRecord | None, skipped: Iterable[StageRecord]
    ) -> None:
        if finished is not None and self.stage_id is not None:
            _CLOSE_STAGE.execute(
                conn,
                {"b_stage_id": self.stage_id}
                | {f"b_{f}": getattr(finished, f) for f in _STAGE_FIELDS},
            )
            self.stage_id = None
        rows = [
            _stage_row(self.run_id, s.stage, s.status, s.started_at)
            | {"finished_at": s.finished_at, "duration_ms": s.duration_ms, "detail": s.detail}
            for s in skipped
        ]
        if rows:
            conn.execute(_ADD_STAGE, rows)

    def _start(self, conn: Connection, stage: str, now: datetime) -> None:
        self.stage_id = uuid.uuid4()
        row = _stage_row(self.run_id, stage, "running", now, self.stage_id)
        _START_STAGE.execute(conn, _prefixed("s_", row))

    def advance(
        self,
        finished: StageRecord | None,
        skipped: Iterable[StageRecord],
        start: str,
        now: datetime,
    ) -> None:
        """One transaction: close the stage that ended, add skipped ones, start `start`."""
        with self._ledger_transaction() as conn:
            _check_term(conn, self.run_id, self.token, self.leader_epoch, now)
            if finished is None or self.stage_id is None:
                self._stage_rows(conn, finished, skipped)
                self._start(conn, start, now)
                return
            self._stage_rows(conn, None, skipped)
            ended = _stage_row(self.run_id, finished.stage, "running", finished.started_at)
            ended |= {f: getattr(finished, f) for f in _STAGE_FIELDS} | {"id": self.stage_id}
            self.stage_id = uuid.uuid4()
            starts = _stage_row(self.run_id, start, "running", now, self.stage_id)
            _BOUNDARY.execute(conn, _prefixed("e_", ended) | _prefixed("s_", starts))

    def finish(
        self,
        finished: StageRecord | None,
        skipped: Iterable[StageRecord],
        ending: RunEnding,
        now: datetime,
    ) -> None:
        """One transaction: close the last stage, add skipped ones, and end the run."""
        if self.opened_at is None:  # a claimed run: the ORM update finds its times to forget
            self._finish_claimed(finished, skipped, ending, now)
            return
        with self._ledger_transaction() as conn:
            ended = _END_RUN.execute(
                conn,
                {
                    "b_run_id": self.run_id,
                    "b_token": self.token,
                    "b_status": ending.status,
                    "b_finished_at": now,
                    "b_duration_ms": ending.duration_ms,
                    "b_summary": ending.summary,
                    "b_error_type": ending.error_type,
                    "b_error_message": ending.error_message,
                },
            )
            if getattr(ended, "rowcount", 0) != 1:  # rolled back whole: nothing is written
                raise StaleWriter(self.run_id, "its claim was taken or ended by another owner")
            _check_epoch(conn, self.run_id, self.leader_epoch)
            self._stage_rows(conn, finished, skipped)
            # the rollup slices the run's row lies in (what an ORM update would forget)
            opened = [self.opened_at]
            forget(conn, _RUNS.name, {"created_at": opened, "started_at": opened})
        self._release()

    def _finish_claimed(
        self,
        finished: StageRecord | None,
        skipped: Iterable[StageRecord],
        ending: RunEnding,
        now: datetime,
    ) -> None:
        with self.base.begin() as session:
            conn = session.connection()
            _check_term(conn, self.run_id, self.token, self.leader_epoch, now)
            self._stage_rows(conn, finished, skipped)
            session.execute(
                update(PipelineRun)
                .where(PipelineRun.id == self.run_id)
                .values(
                    status=ending.status,
                    finished_at=now,
                    duration_ms=ending.duration_ms,
                    summary=ending.summary,
                    error_type=ending.error_type,
                    error_message=ending.error_message,
                    claim_token=None,
                )
                .execution_options(synchronize_session=False)
            )

    def heartbeat(self, now: datetime) -> bool:
        """Renew the claim alone; False (nothing written) when the term is over."""
        try:
            with _transaction(self.base) as conn:
                _check_term(conn, self.run_id, self.token, self.leader_epoch, now)
        except StaleWriter:
            return False
        return True

    def close(self) -> None:
        """The run ended here (or is no longer ours): stop renewing its claim."""
        HEARTBEATS.forget(self)
        self._release()


def _stage_row(
    run_id: uuid.UUID,
    stage: str,
    status: str,
    started_at: datetime,
    stage_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A stage_runs row as Core values (every column the model defaults, given here)."""
    return {
        "id": stage_id or uuid.uuid4(),
        "run_id": run_id,
        "stage": stage,
        "status": status,
        "attempt": 1,
        "started_at": started_at,
        "finished_at": None,
        "duration_ms": None,
        "records_in": 0,
        "records_out": 0,
        "error_type": None,
        "error_message": None,
        "detail": {},
    }


class HeartbeatKeeper:
    """One daemon thread per process renewing the claim of every run executing here, so a run
    whose process died (or froze) stops being renewed and is declared lost by the leader."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._runs: dict[uuid.UUID, RunHandle] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def configure(self, interval_s: float) -> None:
        """Renew every `interval_s` from now on (the scheduler's DUGOUT_SCHEDULER_RUN_HEARTBEAT_S)."""
        self.interval_s = interval_s
        self._wake.set()

    def keep(self, handle: RunHandle) -> None:
        """Renew `handle` until it is forgotten."""
        with self._lock:
            self._runs[handle.run_id] = handle
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()  # a forked child never has its parent's thread
                self._thread = threading.Thread(
                    target=self._run, name="dugout-run-heartbeat", daemon=True
                )
                self._thread.start()

    def forget(self, handle: RunHandle) -> None:
        """Stop renewing `handle`."""
        with self._lock:
            if self._runs.get(handle.run_id) is handle:
                del self._runs[handle.run_id]

    def in_flight(self) -> int:
        """Runs renewed by this process now."""
        with self._lock:
            return len(self._runs)

    def beat(self) -> None:
        """Renew every run once now; a run whose term is over is dropped."""
        with self._lock:
            handles = list(self._runs.values())
        for handle in handles:
            try:
                alive = handle.heartbeat(handle.clock())
            except Exception as exc:  # the database is down: keep trying; the leader decides
                log.warning("run heartbeat failed: %s", type(exc).__name__)
                continue
            if not alive:
                log.warning(
                    "run lost its claim; no longer renewed", extra={"run_id": str(handle.run_id)}
                )
                self.forget(handle)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self.beat()


HEARTBEATS = HeartbeatKeeper(5.0)


def _run_values(
    opening: RunOpening, status: str, now: datetime, token: str | None
) -> dict[str, Any]:
    return {
        "id": opening.run_id,
        "pipeline": opening.pipeline,
        "trigger": opening.trigger,
        "scheduled_for": opening.scheduled_for,
        "status": status,
        "actor": opening.actor,
        "correlation_id": opening.correlation_id or new_correlation_id(),
        "trace_id": opening.trace_id,
        "attempt": opening.attempt,
        "parent_run_id": opening.parent_run_id,
        "params": dict(opening.params),
        "summary": {},
        "created_at": now,
        "started_at": now if status == "running" else None,
        "claim_token": token,
        "heartbeat_at": now if token else None,
        "leader_epoch": opening.leader_epoch,
        "fence": "leader" if opening.leader_epoch is not None else "claim",
        "finished_at": None,
        "duration_ms": None,
        "error_type": None,
        "error_message": None,
    }


def _run_row(opening: RunOpening, status: str, now: datetime, token: str | None) -> PipelineRun:
    return PipelineRun(**_run_values(opening, status, now, token))


def open_run(
    sessions: sessionmaker[Session],
    opening: RunOpening,
    now: datetime,
    *,
    first_stage: str | None,
    clock: Any,
) -> RunHandle:
    """Write the run row (status running, a fresh claim) and start its first stage, in one
    transaction that checks the leader epoch; DuplicateTick when the tick already has a run."""
    token = new_token()
    handle = RunHandle(sessions, opening.run_id, token, opening.leader_epoch, clock, now)
    try:
        with handle._ledger_transaction() as conn:
            _ADD_RUN.execute(conn, _prefixed("r_", _run_values(opening, "running", now, token)))
            # the rollup slices the new row lies in (the INSERT hook does not see this path)
            forget(conn, _RUNS.name, {"created_at": [now], "started_at": [now]})
            _check_epoch(conn, opening.run_id, opening.leader_epoch)
            if first_stage is not None:
                handle._start(conn, first_stage, now)
    except BaseException as exc:
        handle._release()
        if not isinstance(exc, IntegrityError):
            raise
        raise DuplicateTick(f"{opening.pipeline} tick {opening.scheduled_for} already ran") from exc
    HEARTBEATS.keep(handle)
    return handle


def queue_run(sessions: sessionmaker[Session], opening: RunOpening, now: datetime) -> None:
    """Write the run row as `queued` (it runs elsewhere, which claims it); DuplicateTick when
    the tick already has a run."""
    try:
        with sessions.begin() as session:
            session.add(_run_row(opening, "queued", now, None))
            session.flush()
            _check_epoch(session.connection(), opening.run_id, opening.leader_epoch)
    except IntegrityError as exc:
        raise DuplicateTick(f"{opening.pipeline} tick {opening.scheduled_for} already ran") from exc


def claim_queued(
    sessions: sessionmaker[Session],
    run_id: uuid.UUID,
    now: datetime,
    *,
    first_stage: str | None,
    clock: Any,
    trace_id: str | None = None,
) -> RunHandle | None:
    """Take a queued run (queued -> running with a fresh claim) and start its first stage, in
    one transaction; None when it is not queued (another delivery has it, or it ended)."""
    token = new_token()
    handle = RunHandle(sessions, run_id, token, None, clock)
    with sessions.begin() as session:
        values: dict[str, Any] = {
            "status": "running",
            "claim_token": token,
            "heartbeat_at": now,
            "started_at": now,
        }
        if trace_id:
            values["trace_id"] = trace_id
        claimed = session.execute(
            update(PipelineRun)
            .where(PipelineRun.id == run_id, PipelineRun.status == "queued")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        if first_stage is not None:
            handle._start(session.connection(), first_stage, now)
    HEARTBEATS.keep(handle)
    return handle


def record_skip(
    sessions: sessionmaker[Session],
    pipeline: str,
    *,
    trigger: str,
    scheduled_for: datetime | None,
    reason: str,
    now: datetime,
    actor: str | None = None,
    attempt: int = 1,
    parent_run_id: uuid.UUID | None = None,
    leader_epoch: int | None = None,
) -> uuid.UUID | None:
    """Write a `skipped` run with its reason; None when the tick already has a run.

    A leader's dispatcher passes its epoch: the row is written only while that term holds
    (StaleWriter otherwise), so a replaced leader cannot take a tick from its successor.
    """
    opening = RunOpening(
        pipeline=pipeline,
        trigger=trigger,
        scheduled_for=scheduled_for,
        actor=actor,
        attempt=attempt,
        parent_run_id=parent_run_id,
    )
    row = _run_row(opening, "skipped", now, None)
    row.started_at, row.finished_at, row.duration_ms = now, now, 0.0
    row.summary, row.fence = {"reason": reason}, None
    try:
        with sessions.begin() as session:
            session.add(row)
            session.flush()
            _check_epoch(session.connection(), row.id, leader_epoch)
    except IntegrityError:  # the tick already has a run: it was decided elsewhere
        return None
    log.info(
        "run skipped",
        extra={
            "pipeline": pipeline,
            "reason": reason,
            "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
        },
    )
    return row.id


def record_failed_run(
    sessions: sessionmaker[Session],
    opening: RunOpening,
    error: Interruption,
    now: datetime,
    *,
    status: str = "failed",
) -> None:
    """End a run that never started: its queued row, or a new row, `failed` (or `interrupted`
    when its executor was lost before it opened the row, so it is retried); DuplicateTick when
    the run id or the tick already has another row."""
    with sessions.begin() as session:
        done = session.execute(
            update(PipelineRun)
            .where(PipelineRun.id == opening.run_id, PipelineRun.status == "queued")
            .values(
                status=status,
                started_at=now,
                finished_at=now,
                duration_ms=0.0,
                summary={"reason": error.message},
                error_type=error.error_type,
                error_message=error.message,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(done, "rowcount", 0) == 1:
            return
    row = _run_row(opening, status, now, None)
    row.started_at, row.finished_at, row.duration_ms = now, now, 0.0
    row.summary, row.fence = {"reason": error.message}, None
    row.error_type, row.error_message = error.error_type, error.message
    try:
        with sessions.begin() as session:
            session.add(row)
    except IntegrityError as exc:
        raise DuplicateTick(f"{opening.pipeline} tick {opening.scheduled_for} already ran") from exc


def interrupt_runs(
    sessions: sessionmaker[Session],
    reason: Interruption,
    now: datetime,
    *,
    ids: Iterable[uuid.UUID] | None = None,
    actor: str | None = None,
    leader_epoch_below: int | None = None,
    heartbeat_before: datetime | None = None,
    status: str = "interrupted",
    lock_timeout_s: float | None = None,
) -> list[uuid.UUID]:
    """End unfinished runs that lost their executor, with the reason as data; returns their ids.

    Filters combine (all given must hold): run ids, the actor that started them, runs fenced by
    a leader epoch older than `leader_epoch_below`, or runs whose heartbeat is older than
    `heartbeat_before`. Only `running` rows are touched unless `ids` names queued ones too.

    The rows are locked FOR NO KEY UPDATE, which does not wait for the key-share locks a lost
    writer's open transaction holds (its data rows point at the run); `lock_timeout_s` (on
    PostgreSQL) bounds any other wait with an OperationalError instead of hanging the caller.
    """
    where: list[Any] = []
    if ids is not None:
        id_list = list(ids)
        if not id_list:
            return []
        where += [PipelineRun.id.in_(id_list), PipelineRun.status.in_(UNFINISHED)]
    else:
        where.append(PipelineRun.status == "running")
    if actor is not None:
        where.append(PipelineRun.actor == actor)
    if leader_epoch_below is not None:
        where += [PipelineRun.fence == "leader", PipelineRun.leader_epoch < leader_epoch_below]
    if heartbeat_before is not None:
        where.append(
            or_(PipelineRun.heartbeat_at < heartbeat_before, PipelineRun.heartbeat_at.is_(None))
        )
    with sessions.begin() as session:
        if lock_timeout_s is not None and session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_s * 1000)}"))
        found = list(
            session.scalars(
                select(PipelineRun.id).where(*where).with_for_update(key_share=True)
            ).all()
        )
        if found:
            session.execute(
                update(PipelineRun)
                .where(PipelineRun.id.in_(found), PipelineRun.status.in_(UNFINISHED))
                .values(
                    status=status,
                    finished_at=now,
                    error_type=reason.error_type,
                    error_message=reason.message,
                    claim_token=None,
                )
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(StageRun)
                .where(StageRun.run_id.in_(found), StageRun.status == "running")
                .values(
                    status=status,
                    finished_at=now,
                    error_type=reason.error_type,
                    error_message=reason.message,
                )
                .execution_options(synchronize_session=False)
            )
            if status == "interrupted":
                _discard_partial_data(session, found)
    if found:
        log.warning(
            "runs ended without finishing",
            extra={"runs": len(found), "status": status, "error_type": reason.error_type},
        )
    return found


def _discard_partial_data(session: Session, run_ids: list[uuid.UUID]) -> None:
    """Drop the source data an interrupted attempt committed before it lost its executor (a
    stage's data commits before its stage row closes): the retry collects the tick once more,
    so the tick's data has one writer. Quarantined rows stay: they are the record of what a
    feed sent wrong, whatever became of the attempt. Opportunities and bets are keyed."""
    snapshots = select(SourceSnapshot.id).where(SourceSnapshot.run_id.in_(run_ids))
    for model in (QuoteRow, SplitRow):
        session.execute(
            delete(model)
            .where(model.snapshot_id.in_(snapshots))
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(QuarantinedRow)
        .where(QuarantinedRow.snapshot_id.in_(snapshots))
        .values(snapshot_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(SourceSnapshot)
        .where(SourceSnapshot.run_id.in_(run_ids))
        .execution_options(synchronize_session=False)
    )


def fail_unfinished(
    sessions: sessionmaker[Session],
    run_id: uuid.UUID,
    reason: Interruption,
    now: datetime,
) -> bool:
    """Fail run `run_id` and any attempt retrying it that is still unfinished; False when the
    ledger has no row for it at all."""
    with sessions() as session:
        ids = list(
            session.scalars(
                select(PipelineRun.id).where(
                    or_(PipelineRun.id == run_id, PipelineRun.parent_run_id == run_id)
                )
            ).all()
        )
    if not ids:
        return False
    interrupt_runs(sessions, reason, now, ids=ids, status="failed")
    return True


def lapsed_before(now: datetime, lost_after_s: float) -> datetime:
    """The heartbeat instant before which a running run counts as lost."""
    return now - timedelta(seconds=lost_after_s)


class RunBatch:
    """Runs replayed together (`dugout demo seed`): each run's row is inserted when it opens,
    its stage rows and its ending are kept until `flush`, which writes them in bulk and commits
    everything the batch's runs wrote (their stages' data rows included) in one transaction.

    Nothing else executes these runs and nobody sees them before the commit, so they hold no
    claim and keep no heartbeat. A failed write rolls the whole batch back since its last flush.
    """

    def __init__(self, base: sessionmaker[Session]) -> None:
        self.base = base
        self.flushed = 0  # runs committed so far
        self._connection: Connection | None = None
        self._stages: list[dict[str, Any]] = []
        self._endings: list[dict[str, Any]] = []
        self.sessions: sessionmaker[Session] = base

    def __enter__(self) -> RunBatch:
        engine = self.base.kw["bind"]
        self._connection = engine.connect()
        defer(self._connection)  # rollup slices are forgotten once per flush, not per write
        self._connection.begin()
        # sessions join the batch's transaction: their commits write, only `flush` commits
        self.sessions = sessionmaker(
            class_=self.base.class_,
            **{
                **self.base.kw,
                "bind": self._connection,
                "join_transaction_mode": "rollback_only",
            },
        )
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._connection is not None
        try:
            if exc_type is None:
                self.flush()
            else:
                self._connection.rollback()
        finally:
            stop_deferring(self._connection)
            self._connection.close()
            self._connection = None
            self.sessions = self.base

    def open(
        self, opening: RunOpening, now: datetime, *, first_stage: str | None, clock: Any
    ) -> RunHandle:
        """Insert the run's row (its data rows point at it) and start its first stage. A tick
        that already has a run fails the batch: the caller leaves out the ticks taken."""
        assert self._connection is not None, "open a run inside `with RunBatch(...)`"
        conn = self._connection
        _ADD_RUN.execute(conn, _prefixed("r_", _run_values(opening, "running", now, None)))
        forget(conn, _RUNS.name, {"created_at": [now], "started_at": [now]})  # deferred
        handle = _BatchRunHandle(self, opening.run_id, clock)
        if first_stage is not None:
            handle.start_stage(first_stage, now)
        return handle

    def flush(self) -> int:
        """Write the stage rows and endings kept so far and commit; returns runs committed."""
        assert self._connection is not None
        conn = self._connection
        if self._stages:
            conn.execute(insert(StageRun), self._stages)
        if self._endings:
            conn.execute(
                update(PipelineRun)
                .where(PipelineRun.id == bindparam("run_id"))
                .values(
                    status=bindparam("status"),
                    finished_at=bindparam("finished_at"),
                    duration_ms=bindparam("duration_ms"),
                    summary=bindparam("summary"),
                    error_type=bindparam("error_type"),
                    error_message=bindparam("error_message"),
                ),
                self._endings,
            )
        forget_deferred(conn)
        conn.commit()
        conn.begin()
        done = len(self._endings)
        self.flushed += done
        self._stages, self._endings = [], []
        return done


class _BatchRunHandle(RunHandle):
    """A run of a RunBatch: its stage rows and its ending wait for the batch's flush."""

    def __init__(self, batch: RunBatch, run_id: uuid.UUID, clock: Any) -> None:
        self.run_id, self.token, self.leader_epoch, self.clock = run_id, "", None, clock
        self.base = batch.base
        self.batch = batch
        self.sessions = batch.sessions
        self.stage_id = None

    def start_stage(self, stage: str, now: datetime) -> None:
        """The stage that runs now (its row is written when it ends)."""
        self.stage_id = uuid.uuid4()

    def _keep(self, finished: StageRecord | None, skipped: Iterable[StageRecord]) -> None:
        for record, stage_id in [(finished, self.stage_id)] + [(s, None) for s in skipped]:
            if record is None:
                continue
            self.batch._stages.append(
                {
                    "id": stage_id or uuid.uuid4(),
                    "run_id": self.run_id,
                    "stage": record.stage,
                    "status": record.status,
                    "started_at": record.started_at,
                    "finished_at": record.finished_at,
                    "duration_ms": record.duration_ms,
                    "records_in": record.records_in,
                    "records_out": record.records_out,
                    "error_type": record.error_type,
                    "error_message": record.error_message,
                    "detail": record.detail,
                }
            )
        self.stage_id = None

    def advance(
        self,
        finished: StageRecord | None,
        skipped: Iterable[StageRecord],
        start: str,
        now: datetime,
    ) -> None:
        """Keep the stage that ended and the skipped ones; start `start`."""
        self._keep(finished, skipped)
        self.start_stage(start, now)

    def finish(
        self,
        finished: StageRecord | None,
        skipped: Iterable[StageRecord],
        ending: RunEnding,
        now: datetime,
    ) -> None:
        """Keep the last stage and the run's ending for the batch's flush."""
        self._keep(finished, skipped)
        self.batch._endings.append(
            {
                "run_id": self.run_id,
                "status": ending.status,
                "finished_at": now,
                "duration_ms": ending.duration_ms,
                "summary": ending.summary,
                "error_type": ending.error_type,
                "error_message": ending.error_message,
            }
        )

    def heartbeat(self, now: datetime) -> bool:
        """Nothing to renew: the batch's runs hold no claim."""
        return True

    def close(self) -> None:
        """Nothing to forget: the batch's runs were never renewed."""
