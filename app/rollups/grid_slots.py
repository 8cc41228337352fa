"""The grid of runs' slots, per pipeline and status: how many runs, their summed duration and
the newest start and run, for the long windows (7 d and 30 d) whose settled slots would otherwise be
re-aggregated from the ledger on every refresh. A marker row (pipeline '*') says a slot was
computed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from app.models import PipelineRun, RollupGridSlot
from app.rollups.slices import (
    MARKER,
    aware,
    floor_sql,
    from_epoch,
    gaps,
    parse_time,
    refresh_sized,
    slices,
)


def slot_row(
    pipeline: str,
    status: str,
    start: datetime,
    size: timedelta,
    runs: Any = 0,
    timed: Any = 0,
    duration_ms_sum: Any = 0.0,
    newest: Any = None,
    newest_run_id: Any = None,
) -> dict[str, Any]:
    """One (pipeline, status) group of a slot as a RollupGridSlot row."""
    return {
        "size_s": int(size.total_seconds()),
        "slot_start": start,
        "pipeline": pipeline,
        "status": status,
        "slot_end": start + size,
        "runs": int(runs or 0),
        "timed": int(timed or 0),
        "duration_ms_sum": float(duration_ms_sum or 0.0),
        "newest_started_at": parse_time(newest),
        "newest_run_id": newest_run_id,
    }


def rows_from_ledger(
    session: Session, lo: datetime, hi: datetime, size: timedelta, through: bool = False
) -> list[dict[str, Any]]:
    """Per pipeline, slot of `size` and status, runs started in [lo, hi) (or [lo, hi] when
    `through`: the grid's tail ends at now), grouped in SQL. Slots with no run have no row."""
    r = PipelineRun
    slot = floor_sql(session, r.started_at, size).label("slot")
    conds = [r.started_at >= lo, r.started_at <= hi if through else r.started_at < hi]
    rows = session.execute(
        select(
            r.pipeline,
            slot,
            r.status,
            func.count(),
            func.count(r.duration_ms),
            func.sum(r.duration_ms),
            func.max(r.started_at),
        )
        .where(*conds)
        .group_by(r.pipeline, slot, r.status)
    ).all()
    return [
        slot_row(p, status, from_epoch(epoch), size, n, timed, total, newest)
        for p, epoch, status, n, timed, total, newest in rows
    ]


RunFacts = tuple[Any, str, Any, Any]  # id, status, summary, error message


def newest_runs(
    session: Session, rows: list[dict[str, Any]]
) -> dict[tuple[str, datetime, str], RunFacts]:
    """Each group's newest run by (pipeline, started_at, status), found on the ledger's
    (pipeline, started_at) index, a few hundred keys a query."""
    r = PipelineRun
    keys = list({(g["pipeline"], g["newest_started_at"]) for g in rows if g["newest_started_at"]})
    found: dict[tuple[str, datetime, str], RunFacts] = {}
    for chunk in range(0, len(keys), 400):
        for rid, pipeline, started, status, summary, error in session.execute(
            select(r.id, r.pipeline, r.started_at, r.status, r.summary, r.error_message).where(
                tuple_(r.pipeline, r.started_at).in_(keys[chunk : chunk + 400])
            )
        ):
            if started is not None:
                found.setdefault((pipeline, aware(started), status), (rid, status, summary, error))
    return found


def _with_markers(
    session: Session, lo: datetime, hi: datetime, size: timedelta
) -> list[dict[str, Any]]:
    rows = rows_from_ledger(session, lo, hi, size)
    runs = newest_runs(session, rows)
    for g in rows:
        run = runs.get((g["pipeline"], g["newest_started_at"], g["status"]))
        g["newest_run_id"] = run[0] if run else None
    return rows + [slot_row(MARKER, MARKER, t, size) for t in slices(lo, hi, size)]


def refresh(session: Session, now: datetime, reach: Mapping[timedelta, timedelta]) -> int:
    """For each slot size and how far back its grid looks, store the settled slots that have
    no rows yet (committing chunk by chunk) and drop the ones no grid reaches any more; slots
    stored."""
    return refresh_sized(
        session,
        now,
        reach,
        RollupGridSlot,
        RollupGridSlot.slot_start,
        PipelineRun.started_at,
        _with_markers,
    )


def settled_rows(
    session: Session, lo: datetime, hi: datetime, size: timedelta
) -> list[dict[str, Any]]:
    """Slot rows of the whole slots in [lo, hi): stored ones from the rollup, the ones not
    stored yet grouped from the ledger (never stored here: reads do not write)."""
    g = RollupGridSlot
    size_s = int(size.total_seconds())
    out: list[dict[str, Any]] = []
    marked: list[datetime] = []
    for s in session.execute(
        select(
            g.slot_start,
            g.pipeline,
            g.status,
            g.runs,
            g.timed,
            g.duration_ms_sum,
            g.newest_started_at,
            g.newest_run_id,
        ).where(g.size_s == size_s, g.slot_start >= lo, g.slot_start < hi)
    ):
        start = aware(s.slot_start)
        if s.pipeline == MARKER:
            marked.append(start)
            continue
        out.append(
            slot_row(
                s.pipeline,
                s.status,
                start,
                size,
                s.runs,
                s.timed,
                s.duration_ms_sum,
                s.newest_started_at,
                s.newest_run_id,
            )
        )
    for a, z in gaps(marked, lo, hi, size):
        out += rows_from_ledger(session, a, z, size)
    return out
