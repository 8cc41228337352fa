"""Bets graded per UTC day and strategy: record, stake, profit, CLV sum and a CLV histogram
(the strategies page, ROI / hit rate / CLV gauges). A marker row (strategy '*') says a day was
computed, even when nothing was graded."""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from app.models import Grade, RollupGradeDay
from app.rollups.slices import (
    DAY,
    MARKER,
    aware,
    case_when,
    chunked,
    floor_sql,
    floor_to,
    from_epoch,
    gaps,
    hold_writers,
    insert_missing,
    missing_ranges,
    settled_before,
    slices,
)

CLV_MIN, CLV_MAX, CLV_WIDTH = -0.10, 0.10, 0.005  # histogram: half-point bins over +-10 points
CLV_BINS = round((CLV_MAX - CLV_MIN) / CLV_WIDTH) + 2  # and one bin for each tail
GRADE_SUMS = ("bets", "wins", "losses", "pushes", "staked", "units", "clv_sum", "clv_n")


def clv_bin_edges() -> list[tuple[float | None, float | None]]:
    """[lo, hi) of every CLV histogram bin; the tails are open (None)."""
    inner = [(CLV_MIN + i * CLV_WIDTH, CLV_MIN + (i + 1) * CLV_WIDTH) for i in range(CLV_BINS - 2)]
    return [(None, CLV_MIN), *inner, (CLV_MAX, None)]


def _clv_bin(column: Any) -> Any:
    inner = func.floor((column - CLV_MIN) / CLV_WIDTH) + 1
    return case(
        (column.is_(None), None),  # SQLite's floor() refuses NULL
        (column < CLV_MIN, 0),
        (column >= CLV_MAX, CLV_BINS - 1),
        else_=inner,
    )


def rows_from_ledger(
    session: Session, lo: datetime, hi: datetime | None, markers: bool
) -> list[dict[str, Any]]:
    """Per UTC day and strategy, grades graded in [lo, hi) summed from the grades table."""
    g = Grade
    day = floor_sql(session, g.graded_at, DAY)
    settled = g.result != "void"
    conds = [g.graded_at >= lo] + ([g.graded_at < hi] if hi is not None else [])
    clv_bin = _clv_bin(g.clv)
    found: dict[tuple[datetime, str], dict[str, Any]] = {}
    for d, strategy, bin_, *sums in session.execute(
        select(
            day,
            g.strategy,
            clv_bin,
            func.sum(case_when(settled)),
            func.sum(case_when(g.result == "win")),
            func.sum(case_when(g.result == "loss")),
            func.sum(case_when(g.result == "push")),
            func.sum(case((settled, g.stake_units), else_=0.0)),
            func.sum(g.profit_units),
            func.coalesce(func.sum(g.clv), 0.0),
            func.count(g.clv),
        )
        .where(*conds)
        .group_by(day, g.strategy, clv_bin)
    ):
        key = (from_epoch(d), strategy)
        row = found.get(key)
        if row is None:
            row = found[key] = {
                "day": key[0],
                "strategy": strategy,
                **dict.fromkeys(GRADE_SUMS, 0),
                "clv_bins": [0] * CLV_BINS,
            }
        for name, value in zip(GRADE_SUMS, sums, strict=True):
            row[name] += value or 0
        if bin_ is not None:
            row["clv_bins"][int(bin_)] += int(sums[-1] or 0)
    out = list(found.values())
    if markers and hi is not None:
        out += [
            {"day": t, "strategy": MARKER, **dict.fromkeys(GRADE_SUMS, 0), "clv_bins": []}
            for t in slices(lo, hi, DAY)
        ]
    return out


def first_day(session: Session) -> datetime | None:
    """The UTC day of the first grade, or None with no grades."""
    first = session.scalar(select(func.min(Grade.graded_at)))
    return floor_to(aware(first), DAY) if first is not None else None


def refresh(session: Session, now: datetime) -> int:
    """Store every settled day since the first grade that has no rows yet, committing chunk by
    chunk; days stored."""
    lo = first_day(session)
    if lo is None:
        return 0
    d = RollupGradeDay
    hi = settled_before(now, DAY)
    stored = 0
    for a, b in chunked(missing_ranges(session, d.day, [d.strategy == MARKER], lo, hi, DAY), DAY):
        if not hold_writers(session, RollupGradeDay, [d.day >= a, d.day < b]):
            continue
        insert_missing(session, RollupGradeDay, rows_from_ledger(session, a, b, markers=True))
        session.commit()
        stored += len(list(slices(a, b, DAY)))
    return stored


def settled_rows(
    session: Session,
    lo: datetime,
    hi: datetime,
    bins_in: Sequence[tuple[datetime, datetime]] | None = None,
) -> list[dict[str, Any]]:
    """Per day and strategy, the whole days in [lo, hi), oldest first: stored days from the
    rollup, the others summed from the grades (never stored here: reads do not write). With
    `bins_in`, only the stored days inside those spans come with their CLV histogram (the
    others with an empty one), which spares a year's parse where blocks hold the bins."""
    d = RollupGradeDay
    out: list[dict[str, Any]] = []
    marked: list[datetime] = []
    sums = [getattr(d, name) for name in GRADE_SUMS]
    bins: Any = cast(d.clv_bins, Text)
    if bins_in is not None:
        inside = [and_(d.day >= a, d.day < b) for a, b in bins_in]
        bins = case((or_(*inside), bins), else_=literal("[]")) if inside else literal("[]")
    found = session.execute(
        select(d.day, d.strategy, bins, *sums).where(d.day >= lo, d.day < hi).order_by(d.day)
    ).all()
    # every row's bins in one parse (a parse per row was most of a year's read)
    every_bins = json.loads("[" + ",".join(row[2] for row in found) + "]")
    for (day, strategy, _, *values), day_bins in zip(found, every_bins, strict=True):
        if strategy == MARKER:
            marked.append(aware(day))
            continue
        out.append(
            {
                "day": aware(day),
                "strategy": strategy,
                **dict(zip(GRADE_SUMS, values, strict=True)),
                "clv_bins": day_bins,
            }
        )
    missing = gaps(marked, lo, hi, DAY)
    for a, b in missing:
        out += rows_from_ledger(session, a, b, markers=False)
    if missing:
        out.sort(key=lambda r: r["day"])
    return out


def add_bins(out: dict[str, list[int]], rows: Iterable[Mapping[str, Any]]) -> None:
    """Add each row's CLV histogram into its strategy's in `out`; rows with no close (no
    CLV) add nothing, so a strategy that never had one stays out."""
    for row in rows:
        if not row["clv_n"]:
            continue
        counts = out.setdefault(row["strategy"], [0] * CLV_BINS)
        row_bins = row["clv_bins"]
        if len(row_bins) == len(counts):  # every stored row: one C-level pass
            counts[:] = map(operator.add, counts, row_bins)
        else:
            for i, n in enumerate(row_bins):
                counts[i] += n
