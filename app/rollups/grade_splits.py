"""Bets graded per UTC day, strategy, book and market, voids left out: the additive sums the
strategies page's statistics need (record, stake, profit, the squares and products behind the
ROI interval, CLV sum and squares). A marker row (strategy '*') says a day was computed.

The book and market are the recommendation's: a graded recommendation is never restaked or
moved (the recommend stage only updates open ones), so a grade's writes alone change a day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.models import Grade, Recommendation, RollupGradeSplit
from app.rollups.grade_days import first_day
from app.rollups.slices import (
    DAY,
    MARKER,
    case_when,
    chunked,
    floor_sql,
    from_epoch,
    gaps,
    hold_writers,
    insert_missing,
    missing_ranges,
    settled_before,
    slices,
)

SPLIT_SUMS = (
    "bets",
    "wins",
    "losses",
    "pushes",
    "staked",
    "units",
    "units_sq",
    "units_stake",
    "stake_sq",
    "clv_n",
    "clv_sum",
    "clv_sq",
)
INTEGER_SUMS = frozenset({"bets", "wins", "losses", "pushes", "clv_n"})
Key = tuple[str, str, str]  # (strategy, book, market)
Sums = dict[Key, dict[str, float]]


def _ledger_sums() -> tuple[Any, ...]:
    g, clv = Grade, Grade.clv
    return (
        func.count(g.id),
        func.sum(case_when(g.result == "win")),
        func.sum(case_when(g.result == "loss")),
        func.sum(case_when(g.result == "push")),
        func.sum(g.stake_units),
        func.sum(g.profit_units),
        func.sum(g.profit_units * g.profit_units),
        func.sum(g.profit_units * g.stake_units),
        func.sum(g.stake_units * g.stake_units),
        func.count(clv),
        func.coalesce(func.sum(clv), 0.0),
        func.coalesce(func.sum(clv * clv), 0.0),
    )


def _conditions(lo: datetime | None, hi: datetime | None) -> list[Any]:
    g = Grade
    return (
        [g.result != "void"]
        + ([g.graded_at >= lo] if lo is not None else [])
        + ([g.graded_at < hi] if hi is not None else [])
    )


def _values(values: Sequence[Any]) -> dict[str, float]:
    return {
        name: (int(v or 0) if name in INTEGER_SUMS else float(v or 0.0))
        for name, v in zip(SPLIT_SUMS, values, strict=True)
    }


def merge(out: Sums, key: Key, values: dict[str, float]) -> None:
    """Add one group's sums into `out`."""
    cur = out.get(key)
    if cur is None:
        out[key] = dict(values)
        return
    for name, v in values.items():
        cur[name] += v


def rows_from_ledger(session: Session, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    """RollupGradeSplit rows for the days in [lo, hi) computed from the grades, markers
    included."""
    g, r = Grade, Recommendation
    day = floor_sql(session, g.graded_at, DAY)
    out: list[dict[str, Any]] = [
        {"day": from_epoch(d), "strategy": s, "book": b, "market": m, **_values(values)}
        for d, s, b, m, *values in session.execute(
            select(day, g.strategy, r.book, r.market, *_ledger_sums())
            .join(r, r.id == g.recommendation_id)
            .where(*_conditions(lo, hi))
            .group_by(day, g.strategy, r.book, r.market)
        )
    ]
    out += [
        {
            "day": t,
            "strategy": MARKER,
            "book": "",
            "market": "",
            **_values([0] * len(SPLIT_SUMS)),
        }
        for t in slices(lo, hi, DAY)
    ]
    return out


def refresh(session: Session, now: datetime) -> int:
    """Store every settled day since the first grade that has no rows yet, committing chunk by
    chunk; days stored."""
    lo = first_day(session)
    if lo is None:
        return 0
    d = RollupGradeSplit
    hi = settled_before(now, DAY)
    stored = 0
    for a, b in chunked(missing_ranges(session, d.day, [d.strategy == MARKER], lo, hi, DAY), DAY):
        if not hold_writers(session, RollupGradeSplit, [d.day >= a, d.day < b]):
            continue
        insert_missing(session, RollupGradeSplit, rows_from_ledger(session, a, b))
        session.commit()
        stored += len(list(slices(a, b, DAY)))
    return stored


def ledger_sums(
    session: Session, spans: Sequence[tuple[datetime | None, datetime | None]], out: Sums
) -> None:
    """Add the grades graded in each [start, end) span, summed from the grades, into `out`."""
    g, r = Grade, Recommendation
    for start, end in spans:
        if start is not None and end is not None and start >= end:
            continue
        for s, b, m, *values in session.execute(
            select(g.strategy, r.book, r.market, *_ledger_sums())
            .join(r, r.id == g.recommendation_id)
            .where(*_conditions(start, end))
            .group_by(g.strategy, r.book, r.market)
        ):
            merge(out, (s, b, m), _values(values))


def settled_sums(session: Session, spans: Sequence[tuple[datetime, datetime]], out: Sums) -> None:
    """Add the grades of the whole days in each [lo, hi) span into `out`, summed in SQL:
    stored days from the rollup, days not stored yet from the grades (never stored here: reads
    do not write)."""
    spans = [(lo, hi) for lo, hi in spans if lo < hi]
    if not spans:
        return
    d = RollupGradeSplit
    within = or_(*[and_(d.day >= lo, d.day < hi) for lo, hi in spans])
    stored = 0  # the marker rows summed with the rest: one count, one row per stored day
    for s, b, m, n, *values in session.execute(
        select(
            d.strategy,
            d.book,
            d.market,
            func.count(),
            *[func.sum(getattr(d, n)) for n in SPLIT_SUMS],
        )
        .where(within)
        .group_by(d.strategy, d.book, d.market)
    ):
        if s == MARKER:
            stored = n
        else:
            merge(out, (s, b, m), _values(values))
    if stored == sum((hi - lo) // DAY for lo, hi in spans):
        return  # every day stored (the usual case)
    marked = session.scalars(select(d.day).where(d.strategy == MARKER, within)).all()
    missing: list[tuple[datetime | None, datetime | None]] = [
        gap for lo, hi in spans for gap in gaps(marked, lo, hi, DAY)
    ]
    ledger_sums(session, missing, out)
