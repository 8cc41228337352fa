"""Runs per UTC day, per pipeline, status and trigger: counts and durations of settled days
(pipeline summaries, run-history totals). A marker row (pipeline '*') says a day was computed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import PipelineRun, RollupRunDay
from app.rollups.slices import (
    DAY,
    MARKER,
    aware,
    chunked,
    floor_sql,
    floor_to,
    from_epoch,
    hold_writers,
    insert_missing,
    missing_ranges,
    parse_time,
    settled_before,
    slices,
)

Key = tuple[str, str, str]  # (pipeline, status, trigger)
# [runs, timed runs, duration sum ms, duration max ms, last started]
Totals = dict[Key, list[Any]]


def _sums(r: type[PipelineRun]) -> tuple[Any, ...]:
    return (
        func.count(),
        func.count(r.duration_ms),
        func.coalesce(func.sum(r.duration_ms), 0.0),
        func.max(r.duration_ms),
        func.max(r.started_at),
    )


def rows_from_ledger(session: Session, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    """RollupRunDay rows for the days in [lo, hi) computed from the ledger, markers included."""
    r = PipelineRun
    day = floor_sql(session, r.created_at, DAY)
    rows = session.execute(
        select(day, r.pipeline, r.status, r.trigger, *_sums(r))
        .where(r.created_at >= lo, r.created_at < hi)
        .group_by(day, r.pipeline, r.status, r.trigger)
    ).all()
    out = [
        {
            "day": from_epoch(d),
            "pipeline": p,
            "status": s,
            "trigger": t,
            "runs": n,
            "timed": timed,
            "duration_sum_ms": float(total),
            "duration_max_ms": mx,
            "last_started_at": parse_time(last),
        }
        for d, p, s, t, n, timed, total, mx, last in rows
    ]
    out += [
        {"day": d, "pipeline": MARKER, "status": "", "trigger": "", "runs": 0}
        for d in slices(lo, hi, DAY)
    ]
    return out


def refresh(session: Session, now: datetime) -> int:
    """Store every settled day since the first run that has no rows yet, committing chunk by
    chunk; days stored."""
    first = session.scalar(select(func.min(PipelineRun.created_at)))
    if first is None:
        return 0
    d = RollupRunDay
    lo, hi = floor_to(aware(first), DAY), settled_before(now, DAY)
    stored = 0
    for a, b in chunked(missing_ranges(session, d.day, [d.pipeline == MARKER], lo, hi, DAY), DAY):
        if not hold_writers(session, RollupRunDay, [d.day >= a, d.day < b]):
            continue
        insert_missing(session, RollupRunDay, rows_from_ledger(session, a, b))
        session.commit()
        stored += len(list(slices(a, b, DAY)))
    return stored


def merge(totals: Totals, key: Key, values: Sequence[Any]) -> None:
    """Add one group's [runs, timed, sum ms, max ms, last started] into `totals`."""
    n, timed, total, mx, last = values
    last = parse_time(last)
    cur = totals.setdefault(key, [0, 0, 0.0, None, None])
    cur[0] += int(n or 0)
    cur[1] += int(timed or 0)
    cur[2] += float(total or 0.0)
    if mx is not None:
        cur[3] = mx if cur[3] is None else max(cur[3], mx)
    if last is not None:
        cur[4] = last if cur[4] is None else max(cur[4], last)


def ledger_totals(
    session: Session,
    spans: Sequence[tuple[datetime | None, datetime | None]],
    equal: dict[str, str],
    totals: Totals,
) -> None:
    """Add the runs created in each [start, end) span, counted on the ledger, into `totals`."""
    r = PipelineRun
    for start, end in spans:
        if start is not None and end is not None and start >= end:
            continue
        conds = [getattr(r, k) == v for k, v in equal.items()]
        conds += [r.created_at >= start] if start is not None else []
        conds += [r.created_at < end] if end is not None else []
        for p, s, t, *values in session.execute(
            select(r.pipeline, r.status, r.trigger, *_sums(r))
            .where(*conds)
            .group_by(r.pipeline, r.status, r.trigger)
        ):
            merge(totals, (p, s, t), values)


def settled_totals(
    session: Session, lo: datetime, hi: datetime, equal: dict[str, str], totals: Totals
) -> None:
    """Add the runs of the whole days in [lo, hi) into `totals`: stored days from the rollup,
    days not stored yet counted on the ledger (never stored here: reads do not write)."""
    if lo >= hi:
        return
    d = RollupRunDay
    missing: list[tuple[datetime | None, datetime | None]] = list(
        missing_ranges(session, d.day, [d.pipeline == MARKER], lo, hi, DAY)
    )
    conds = [d.day >= lo, d.day < hi, d.pipeline != MARKER]
    conds += [getattr(d, k) == v for k, v in equal.items()]
    for p, s, t, *values in session.execute(
        select(
            d.pipeline,
            d.status,
            d.trigger,
            func.sum(d.runs),
            func.sum(d.timed),
            func.sum(d.duration_sum_ms),
            func.max(d.duration_max_ms),
            func.max(d.last_started_at),
        )
        .where(*conds)
        .group_by(d.pipeline, d.status, d.trigger)
    ):
        merge(totals, (p, s, t), values)
    ledger_totals(session, missing, equal, totals)
