"""The grade day and split rollups summed per fixed 30-day block (aligned to the epoch), so the
strategies page's season and all-time windows read a dozen blocks and the ragged days at
their edges instead of a year of day rows.

A block is summed from its stored days, and only once every day of it since the first grade
is stored (its marker row, strategy '*', says so); the grades' invalidation forgets a block
with any day in it, so a block is never older than its days. A reader takes the whole blocks
inside its window, and the days of the edges and of any block not stored yet from the day
rollups (which fall back to the grades in turn)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from app.models import RollupGradeDay, RollupGradeDayBlock, RollupGradeSplit, RollupGradeSplitBlock
from app.rollups import grade_days, grade_splits
from app.rollups.grade_days import CLV_BINS, GRADE_SUMS, first_day
from app.rollups.grade_splits import SPLIT_SUMS, Sums, merge
from app.rollups.slices import (
    BLOCK,
    DAY,
    MARKER,
    ceil_to,
    chunked,
    floor_to,
    gaps,
    hold_writers,
    insert_missing,
    missing_ranges,
    settled_before,
)

Span = tuple[datetime, datetime]


def split_block_rows(session: Session, block: datetime) -> list[dict[str, Any]]:
    """RollupGradeSplitBlock rows of `block` summed from its stored split days, marker
    included."""
    d = RollupGradeSplit
    rows: list[dict[str, Any]] = [
        {"block": block, "strategy": s, "book": b, "market": m, **grade_splits._values(values)}
        for s, b, m, *values in session.execute(
            select(d.strategy, d.book, d.market, *[func.sum(getattr(d, n)) for n in SPLIT_SUMS])
            .where(d.day >= block, d.day < block + BLOCK, d.strategy != MARKER)
            .group_by(d.strategy, d.book, d.market)
        )
    ]
    zero = grade_splits._values([0] * len(SPLIT_SUMS))
    return [*rows, {"block": block, "strategy": MARKER, "book": "", "market": "", **zero}]


def day_block_rows(session: Session, block: datetime) -> list[dict[str, Any]]:
    """RollupGradeDayBlock rows of `block` summed from its stored days (CLV histograms bin by
    bin), marker included."""
    found: dict[str, dict[str, Any]] = {}
    for row in grade_days.settled_rows(session, block, block + BLOCK):
        total = found.get(row["strategy"])
        if total is None:
            total = found[row["strategy"]] = {
                "block": block,
                "strategy": row["strategy"],
                **dict.fromkeys(GRADE_SUMS, 0),
                "clv_bins": [0] * CLV_BINS,
            }
        for name in GRADE_SUMS:
            total[name] += row[name] or 0
        for i, n in enumerate(row["clv_bins"]):
            total["clv_bins"][i] += n
    marker = {"block": block, "strategy": MARKER, **dict.fromkeys(GRADE_SUMS, 0), "clv_bins": []}
    return [*found.values(), marker]


SECTIONS: tuple[tuple[Any, Any, Callable[[Session, datetime], list[dict[str, Any]]]], ...] = (
    (RollupGradeDayBlock, RollupGradeDay, day_block_rows),
    (RollupGradeSplitBlock, RollupGradeSplit, split_block_rows),
)


def refresh(session: Session, now: datetime) -> int:
    """Store every settled block since the first grade's that has no rows yet and whose days
    are all stored, one block per transaction; blocks stored. Run after the day rollups'
    refresh: a block whose days are not all stored waits for the next pass."""
    first = first_day(session)
    if first is None:
        return 0
    lo, hi = floor_to(first, BLOCK), floor_to(settled_before(now, DAY), BLOCK)
    stored = 0
    for model, days, rows in SECTIONS:
        marked = [model.strategy == MARKER]
        for a, b in chunked(missing_ranges(session, model.block, marked, lo, hi, BLOCK), BLOCK):
            if not hold_writers(session, model, [model.block >= a, model.block < b]):
                continue
            since = max(a, first)
            have = session.scalar(
                select(func.count()).where(days.strategy == MARKER, days.day >= since, days.day < b)
            )
            if have != (b - since) // DAY:  # a day not stored (yet, or forgotten since)
                session.rollback()
                continue
            insert_missing(session, model, rows(session, a))
            session.commit()
            stored += 1
    return stored


def cover(lo: datetime, hi: datetime, first: datetime) -> tuple[Span, list[Span]]:
    """The whole blocks [a, b) inside the window of days [lo, hi) and the ragged days outside
    them; a block that starts before the first grade's day is whole from that day on."""
    a = floor_to(lo, BLOCK) if lo <= first else ceil_to(lo, BLOCK)
    b = floor_to(hi, BLOCK)
    if a >= b:
        return (a, a), [(lo, hi)]
    edges = [(lo, a), (b, hi)]
    return (a, b), [(x, y) for x, y in edges if x < y]


def split_sums(session: Session, lo: datetime, hi: datetime, first: datetime, out: Sums) -> None:
    """Add the grades of the whole days in [lo, hi) into `out` (as `grade_splits.settled_sums`
    does): stored blocks inside the window, the edges and the blocks not stored from the days."""
    if lo >= hi:
        return
    (a, b), spans = cover(lo, hi, first)
    t = RollupGradeSplitBlock
    if a < b:
        stored = 0  # the marker rows summed with the rest: one row per stored block
        for s, bk, m, n, *values in session.execute(
            select(
                t.strategy,
                t.book,
                t.market,
                func.count(),
                *[func.sum(getattr(t, n)) for n in SPLIT_SUMS],
            )
            .where(t.block >= a, t.block < b)
            .group_by(t.strategy, t.book, t.market)
        ):
            if s == MARKER:
                stored = n
            else:
                merge(out, (s, bk, m), grade_splits._values(values))
        if stored != (b - a) // BLOCK:
            have = session.scalars(
                select(t.block).where(t.strategy == MARKER, t.block >= a, t.block < b)
            ).all()
            spans += [(max(x, lo), y) for x, y in gaps(have, a, b, BLOCK)]
    grade_splits.settled_sums(session, spans, out)


def chart_rows(
    session: Session, lo: datetime, hi: datetime, first: datetime
) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """The whole days in [lo, hi) (as `grade_days.settled_rows` reads them, CLV bins left
    empty where a block holds them) and, per strategy, their CLV histogram: stored blocks
    inside the window, the edges and the blocks not stored from the days' bins."""
    bins: dict[str, list[int]] = {}
    if lo >= hi:
        return [], bins
    (a, b), spans = cover(lo, hi, first)
    t = RollupGradeDayBlock
    if a < b:
        found = session.execute(
            select(t.block, t.strategy, t.clv_n, cast(t.clv_bins, Text)).where(
                t.block >= a, t.block < b, or_(t.strategy == MARKER, t.clv_n > 0)
            )
        ).all()
        parsed = json.loads("[" + ",".join(row[3] for row in found) + "]")
        marked = [block for block, s, _, _ in found if s == MARKER]
        grade_days.add_bins(
            bins,
            [
                {"strategy": s, "clv_n": n, "clv_bins": block_bins}
                for (_, s, n, _), block_bins in zip(found, parsed, strict=True)
                if s != MARKER
            ],
        )
        spans += [(max(x, lo), y) for x, y in gaps(marked, a, b, BLOCK)]
    days = grade_days.settled_rows(session, lo, hi, bins_in=spans)
    grade_days.add_bins(bins, [r for r in days if any(x <= r["day"] < y for x, y in spans)])
    return days, bins
