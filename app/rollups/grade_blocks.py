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

from sqlalchemy import Text, cast, func, select
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


def _blocks_missing(session: Session, model: Any, blocks: Span, lo: datetime) -> list[Span]:
    """The days (from `lo` on) of the blocks in `blocks` that are not stored."""
    a, b = blocks
    if a >= b:
        return []
    have = session.scalars(
        select(model.block).where(model.strategy == MARKER, model.block >= a, model.block < b)
    ).all()
    return [(max(x, lo), y) for x, y in gaps(have, a, b, BLOCK)]


def split_sums(session: Session, lo: datetime, hi: datetime, first: datetime, out: Sums) -> None:
    """Add the grades of the whole days in [lo, hi) into `out` (as `grade_splits.settled_sums`
    does): stored blocks inside the window, the edges and the blocks not stored from the days."""
    if lo >= hi:
        return
    blocks, edges = cover(lo, hi, first)
    t = RollupGradeSplitBlock
    a, b = blocks
    if a < b:
        for s, bk, m, *values in session.execute(
            select(t.strategy, t.book, t.market, *[func.sum(getattr(t, n)) for n in SPLIT_SUMS])
            .where(t.block >= a, t.block < b, t.strategy != MARKER)
            .group_by(t.strategy, t.book, t.market)
        ):
            merge(out, (s, bk, m), grade_splits._values(values))
    spans = edges + _blocks_missing(session, t, blocks, lo)
    grade_splits.settled_sums(session, spans, out)


def clv_bins(
    session: Session, lo: datetime, hi: datetime, first: datetime, out: dict[str, list[int]]
) -> None:
    """Add the CLV histograms of the whole days in [lo, hi) into `out`, per strategy: stored
    blocks inside the window, the edges and the blocks not stored from the days."""
    if lo >= hi:
        return
    blocks, edges = cover(lo, hi, first)
    t = RollupGradeDayBlock
    a, b = blocks
    if a < b:
        found = session.execute(
            select(t.strategy, t.clv_n, cast(t.clv_bins, Text)).where(
                t.block >= a, t.block < b, t.strategy != MARKER, t.clv_n > 0
            )
        ).all()
        parsed = json.loads("[" + ",".join(row[2] for row in found) + "]")
        grade_days.add_bins(
            out,
            [
                {"strategy": s, "clv_n": n, "clv_bins": bins}
                for (s, n, _), bins in zip(found, parsed, strict=True)
            ],
        )
    spans = edges + _blocks_missing(session, t, blocks, lo)
    grade_days.settled_bins(session, spans, out)
