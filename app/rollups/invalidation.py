"""Writers forget the rollup slices their rows fall in: any INSERT, ORM update or delete and
ORM bulk UPDATE or DELETE of a watched table deletes the stored slices it changes, inside the
writer's own transaction, and wakes the keeper of that database once it commits. A writer
that touches settled slices on PostgreSQL holds the rollup lock shared until it commits, so a
refresh never computes a slice around a change still in flight."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, delete, event, func, select
from sqlalchemy.orm import Session, attributes
from sqlalchemy.sql.dml import Delete, Insert, Update

from app.models import (
    Grade,
    OpportunityRow,
    PipelineRun,
    RollupBetTotal,
    RollupGradeDay,
    RollupGradeDayBlock,
    RollupGradeSplit,
    RollupGradeSplitBlock,
    RollupGridSlot,
    RollupRunBucket,
    RollupRunDay,
    RollupSloHour,
    SourceSnapshot,
    SourceState,
)
from app.rollups.slices import BLOCK, DAY, HOUR, LOCK_KEY, SETTLE, aware, floor_to, table_of

FRESHNESS_REACH = timedelta(hours=1)  # a snapshot changes the freshness of ticks this far after it
WATCHED: dict[str, tuple[str, ...]] = {  # table -> the time columns that place its rows
    PipelineRun.__tablename__: ("created_at", "started_at"),
    OpportunityRow.__tablename__: ("detected_at",),
    SourceSnapshot.__tablename__: ("fetched_at",),
    SourceState.__tablename__: (),
    Grade.__tablename__: ("graded_at",),
}
# table -> the columns some rollup aggregates: an update that sets none of them (a heartbeat,
# a claim) changes no stored slice and forgets nothing
AGGREGATED: dict[str, frozenset[str]] = {
    PipelineRun.__tablename__: frozenset(
        {"pipeline", "status", "trigger", "created_at", "started_at", "duration_ms"}
    ),
    OpportunityRow.__tablename__: frozenset({"detected_at", "latency_ms"}),
    SourceSnapshot.__tablename__: frozenset({"source", "fetched_at", "newest_update_at"}),
    SourceState.__tablename__: frozenset({"source"}),
    Grade.__tablename__: frozenset(
        {"strategy", "result", "stake_units", "profit_units", "clv", "graded_at"}
    ),
}
GRADE_ROLLUPS = (RollupGradeDay, RollupGradeSplit)  # both cut by the grades' graded_at day
GRADE_BLOCKS = (RollupGradeDayBlock, RollupGradeSplitBlock)  # the same, per 30-day block
_DIRTY = "dugout.rollups.dirty"  # connection info: this transaction changed settled slices
_SHARED = "dugout.rollups.shared"  # connection info: this transaction holds the lock shared
_DEFERRED = "dugout.rollups.deferred"  # connection info: table -> what its writes would forget
# engine -> its keeper's wake method, both held weakly: the keeper holds the engine itself
_listeners: weakref.WeakKeyDictionary[Engine, weakref.WeakMethod[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def on_forgotten(engine: Engine, wake: Callable[[], None]) -> None:
    """Call `wake` (a bound method) after each commit on `engine` that changed settled slices."""
    _listeners[engine] = weakref.WeakMethod(wake)


def _settled_edge() -> datetime:
    """Rows older than this may lie in a stored slice (a minute of margin for clock skew)."""
    return floor_to(datetime.now(UTC) - SETTLE + timedelta(minutes=1), HOUR)


def _still_open(oldest: datetime) -> bool:
    """True when every slice a row at `oldest` or later falls in is still open."""
    return floor_to(oldest, HOUR) + HOUR > _settled_edge()


def _touch_settled(conn: Any, oldest: datetime | None) -> None:
    """A change to a slice that may be settled wakes the keeper after the commit and, on
    PostgreSQL, holds the rollup lock shared until then; `oldest` None: it may touch any."""
    if oldest is not None and _still_open(oldest):
        return  # every slice it touches is still open: no refresh stores it yet
    conn.info[_DIRTY] = True
    if conn.dialect.name == "postgresql" and not conn.info.get(_SHARED):
        conn.execute(select(func.pg_advisory_xact_lock_shared(LOCK_KEY)))
        conn.info[_SHARED] = True


def _delete(conn: Any, stmt: Any) -> None:
    if conn.execute(stmt).rowcount:
        conn.info[_DIRTY] = True


def defer(conn: Any) -> None:
    """Collect what writes on `conn` would forget until `forget_deferred` (a batch writer)."""
    conn.info.setdefault(_DEFERRED, {})


def forget_deferred(conn: Any) -> None:
    """Forget, once per table, the slices the writes collected since `defer` fall in; the
    connection keeps deferring."""
    pending: dict[str, tuple[bool, dict[str, list[datetime]]]] = conn.info.get(_DEFERRED) or {}
    conn.info[_DEFERRED] = {}
    for table, (everything, times) in pending.items():
        forget(conn, table, times, everything)


def stop_deferring(conn: Any) -> None:
    """Writes on `conn` forget their slices at once again (what was collected is dropped)."""
    conn.info.pop(_DEFERRED, None)


def _collect(
    pending: dict[str, Any], table: str, values: dict[str, list[datetime]], everything: bool
) -> None:
    """Merge one write's times into what a deferring connection collected (bounds only)."""
    was_everything, times = pending.get(table, (False, {}))
    for col, vs in values.items():
        merged = times.get(col, []) + vs
        times[col] = [min(merged), max(merged)] if merged else []
    pending[table] = (was_everything or everything, times)


def forget(
    conn: Any, table: str, times: dict[str, list[datetime]], everything: bool = False
) -> None:
    """Delete the rollup slices that rows of `table` at `times` (column -> values) fall in."""
    values = {k: [aware(v) for v in vs if isinstance(v, datetime)] for k, vs in times.items()}
    pending = conn.info.get(_DEFERRED)
    if pending is not None:
        _collect(pending, table, values, everything)
        return
    every = [v for vs in values.values() for v in vs]
    if not everything and every and _still_open(min(every)):
        return  # no refresh stores an open slice: there is nothing to delete (a live run)
    _touch_settled(conn, None if everything or not every else min(every))
    slo = table_of(RollupSloHour)
    if everything:
        if table == Grade.__tablename__:
            for model in (*GRADE_ROLLUPS, *GRADE_BLOCKS, RollupBetTotal):
                _delete(conn, delete(table_of(model)))
            return
        _delete(conn, delete(slo))
        if table == PipelineRun.__tablename__:
            _delete(conn, delete(table_of(RollupRunDay)))
            _delete(conn, delete(table_of(RollupRunBucket)))
            _delete(conn, delete(table_of(RollupGridSlot)))
        return
    if table == PipelineRun.__tablename__:
        if created := values.get("created_at"):
            day = table_of(RollupRunDay).c.day
            _delete(
                conn,
                delete(table_of(RollupRunDay)).where(
                    day >= floor_to(min(created), DAY), day <= floor_to(max(created), DAY)
                ),
            )
        if started := values.get("started_at"):
            b = table_of(RollupRunBucket).c
            _delete(
                conn,
                delete(table_of(RollupRunBucket)).where(
                    b.bucket_start <= max(started), b.bucket_end > min(started)
                ),
            )
            g = table_of(RollupGridSlot).c
            _delete(
                conn,
                delete(table_of(RollupGridSlot)).where(
                    g.slot_start <= max(started), g.slot_end > min(started)
                ),
            )
            _forget_hours(conn, min(started), max(started))
    elif table == SourceSnapshot.__tablename__:
        if fetched := values.get("fetched_at"):
            _forget_hours(conn, min(fetched), max(fetched) + FRESHNESS_REACH)
    elif table == OpportunityRow.__tablename__ and (detected := values.get("detected_at")):
        _forget_hours(conn, min(detected), max(detected))
    elif table == Grade.__tablename__ and (graded := values.get("graded_at")):
        for model in GRADE_ROLLUPS:
            day = table_of(model).c.day
            _delete(
                conn,
                delete(table_of(model)).where(
                    day >= floor_to(min(graded), DAY), day <= floor_to(max(graded), DAY)
                ),
            )
        for model in GRADE_BLOCKS:  # a block holds the sums of its days
            block = table_of(model).c.block
            _delete(
                conn,
                delete(table_of(model)).where(
                    block >= floor_to(min(graded), BLOCK), block <= floor_to(max(graded), BLOCK)
                ),
            )
        t = table_of(RollupBetTotal).c  # blocks and days: every slice a grade falls in
        _delete(
            conn,
            delete(table_of(RollupBetTotal)).where(
                t.slot_start <= max(graded), t.slot_end > min(graded)
            ),
        )


def _forget_hours(conn: Any, lo: datetime, hi: datetime) -> None:
    hour = table_of(RollupSloHour).c.hour
    _delete(
        conn,
        delete(table_of(RollupSloHour)).where(
            hour >= floor_to(lo, HOUR), hour <= floor_to(hi, HOUR)
        ),
    )


@event.listens_for(Engine, "before_execute")
def _inserted(conn: Any, clause: Any, multiparams: Any, params: Any, _opts: Any) -> None:
    """Any INSERT into a watched table (ORM flush, bulk or Core) forgets the slices it lands in."""
    if not isinstance(clause, Insert) or clause.table.name not in WATCHED:  # type: ignore[attr-defined]
        return
    table = clause.table.name  # type: ignore[attr-defined]
    if table == SourceState.__tablename__:  # a new source changes which snapshots count
        forget(conn, table, {}, everything=True)
        return
    rows: list[Any] = list(multiparams or []) + ([params] if params else [])
    if isinstance(rows[:1] and rows[0], list | tuple):
        rows = list(rows[0])
    rows = [r for r in rows if isinstance(r, dict)]
    cols = WATCHED[table]
    times = {c: [r[c] for r in rows if r.get(c) is not None] for c in cols}
    if not rows or any(not times[c] for c in cols):
        # values inlined into the statement or left to defaults: fall back to the row's own clock
        times = {c: [datetime.now(UTC)] for c in cols}
    forget(conn, table, times)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _ctx: Any) -> None:
    """Updated or deleted ORM objects forget the slices of their old and new times."""
    changed: dict[str, dict[str, list[datetime]]] = {}
    for obj in (*session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table not in WATCHED:
            continue
        if table == SourceState.__tablename__:
            if obj in session.deleted:
                changed[table] = {}
            continue
        if obj not in session.deleted and not any(
            attributes.get_history(obj, col).has_changes() for col in AGGREGATED[table]
        ):
            continue  # nothing a rollup sums changed
        per = changed.setdefault(table, {})
        for col in WATCHED[table]:
            hist = attributes.get_history(obj, col)
            per.setdefault(col, []).extend(
                v for v in (*hist.added, *hist.unchanged, *hist.deleted) if v is not None
            )
    conn = session.connection() if changed else None
    for table, times in changed.items():
        forget(conn, table, times, everything=table == SourceState.__tablename__)


@event.listens_for(Session, "do_orm_execute")
def _bulk_changed(state: Any) -> None:
    """An ORM bulk UPDATE or DELETE forgets the slices of every row it is about to touch."""
    stmt = state.statement
    if not isinstance(stmt, Update | Delete):
        return
    table = stmt.table.name  # type: ignore[attr-defined,union-attr]
    if table not in WATCHED or not WATCHED[table]:
        return
    if (
        isinstance(stmt, Update)
        and not {getattr(c, "key", c) for c in stmt._values or {}} & AGGREGATED[table]
    ):
        return  # it sets nothing a rollup sums (a heartbeat, a claim)
    t = stmt.table  # type: ignore[attr-defined]
    cols = [t.c[c] for c in WATCHED[table]]
    query: Select[Any] = select(*[f(c) for c in cols for f in (func.min, func.max)])
    if stmt.whereclause is not None:
        query = query.where(stmt.whereclause)
    conn = state.session.connection()
    row = conn.execute(query, state.parameters or {}).one()
    times = {
        c: [v for v in row[2 * i : 2 * i + 2] if v is not None]
        for i, c in enumerate(WATCHED[table])
    }
    if isinstance(stmt, Update) and any(
        getattr(c, "key", c) in WATCHED[table] for c in stmt._values or {}
    ):
        forget(conn, table, times, everything=True)  # times themselves move: start over
    else:
        forget(conn, table, times)


@event.listens_for(Engine, "commit")
def _committed(conn: Any) -> None:
    """After a commit that changed settled slices, wake the keeper of that database."""
    conn.info.pop(_SHARED, None)
    ref = _listeners.get(conn.engine) if conn.info.pop(_DIRTY, False) else None
    if ref is not None and (wake := ref()) is not None:
        wake()


@event.listens_for(Engine, "rollback")
def _rolled_back(conn: Any) -> None:
    """A rolled-back transaction deleted nothing and holds no lock any more."""
    conn.info.pop(_SHARED, None)
    conn.info.pop(_DIRTY, None)
    if _DEFERRED in conn.info:
        conn.info[_DEFERRED] = {}  # what the rolled-back writes collected is gone with them
