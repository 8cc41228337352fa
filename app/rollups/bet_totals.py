"""Bets graded per 30-day block and per UTC day, summed by the keys the bets page filters on,
so its totals line over a year reads about a dozen blocks and the days since the last one
instead of every bet and grade.

A row's `tags` are every strategy the strategy filter finds the bet under (the credited one
and every one that signalled it), its `books` every book the book filter finds it under (the
bet's own and each arbitrage leg's), both as '|a|b|'; `state` is settled or void. The sums are
the bets page's (`app.queries.bets.BetTotals`): the recommendation's stake and price CLV, the
grade's stake, profit and result. A marker row (tags '*') says a slice was computed. Blocks
are stored from the first grade on, days only since the block before the current one.

A graded recommendation is never restaked, moved or re-closed (the recommend stage only
updates open ones; its close is read before its grade is written), so a grade's writes alone
change a slice, and the grades' invalidation forgets every slice a grade falls in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from app.models import Grade, Recommendation, RecommendationLeg, RollupBetTotal
from app.rollups.grade_days import first_day
from app.rollups.slices import (
    BLOCK,
    DAY,
    MARKER,
    aware,
    chunked,
    floor_to,
    gaps,
    hold_writers,
    insert_missing,
    missing_ranges,
    settled_before,
    slices,
)

TOTAL_SUMS = (
    "bets",
    "staked",
    "settled",
    "settled_staked",
    "units",
    "clv_n",
    "clv_sum",
    "wins",
    "losses",
    "pushes",
)
INTEGER_SUMS = frozenset({"bets", "settled", "clv_n", "wins", "losses", "pushes"})
RESULT_SUMS = {"win": "wins", "loss": "losses", "push": "pushes"}
SIZES = (BLOCK, DAY)
Key = tuple[datetime, str, str, str, str]  # (slot start, tags, books, market, state)


def key_text(names: Iterable[str]) -> str:
    """'|a|b|': the names sorted, each between bars (a filter looks for '|name|')."""
    return "|" + "|".join(sorted(set(names))) + "|"


def _zero() -> dict[str, Any]:
    return {name: 0 if name in INTEGER_SUMS else 0.0 for name in TOTAL_SUMS}


def rows_from_ledger(
    session: Session, lo: datetime, hi: datetime, size: timedelta
) -> list[dict[str, Any]]:
    """RollupBetTotal rows for the slices of `size` in [lo, hi), from the grades and their bets
    (one row read per grade: the tags and leg books are lists, summed here), markers
    included."""
    g, r, leg = Grade, Recommendation, RecommendationLeg
    span = [g.graded_at >= lo, g.graded_at < hi]
    leg_books: dict[Any, set[str]] = {}
    for rec_id, book in session.execute(
        select(leg.recommendation_id, leg.book)
        .join(g, g.recommendation_id == leg.recommendation_id)
        .where(*span)
    ):
        leg_books.setdefault(rec_id, set()).add(book)
    found: dict[Key, dict[str, Any]] = {}
    query = (
        select(
            r.id,
            g.graded_at,
            g.result,
            g.stake_units.label("graded_stake"),
            g.profit_units,
            r.strategy,
            r.strategies,
            r.book,
            r.market,
            r.stake_units,
            r.clv,
        )
        .join(r, r.id == g.recommendation_id)
        .where(*span)
    )
    for bet in session.execute(query):
        result = bet.result
        void = result == "void"
        key = (
            floor_to(aware(bet.graded_at), size),
            key_text([bet.strategy, *(bet.strategies or [])]),
            key_text([bet.book, *leg_books.get(bet.id, ())]),
            bet.market,
            "void" if void else "settled",
        )
        row = found.get(key)
        if row is None:
            row = found[key] = _zero()
        row["bets"] += 1
        if not void:
            row["staked"] += bet.stake_units
            row["settled"] += 1
            row["settled_staked"] += bet.graded_stake
            row["units"] += bet.profit_units
            if outcome := RESULT_SUMS.get(result):
                row[outcome] += 1
        if bet.clv is not None:
            row["clv_n"] += 1
            row["clv_sum"] += bet.clv
    size_s = int(size.total_seconds())
    out = [
        {
            "size_s": size_s,
            "slot_start": t,
            "slot_end": t + size,
            "tags": tags,
            "books": books,
            "market": market,
            "state": state,
            **sums,
        }
        for (t, tags, books, market, state), sums in found.items()
    ]
    out += [
        {
            "size_s": size_s,
            "slot_start": t,
            "slot_end": t + size,
            "tags": MARKER,
            "books": "",
            "market": "",
            "state": "",
            **_zero(),
        }
        for t in slices(lo, hi, size)
    ]
    return out


def refresh(session: Session, now: datetime) -> int:
    """Store every settled block since the first grade's and every settled day since the
    block before the current one that has no rows yet, committing chunk by chunk, and drop
    the days no reader reaches any more; slices stored."""
    first = first_day(session)
    t = RollupBetTotal
    day_lo = floor_to(now - BLOCK - DAY, BLOCK)
    session.execute(delete(t).where(t.size_s == int(DAY.total_seconds()), t.slot_start < day_lo))
    if first is None:
        return 0
    stored = 0
    for size, lo in ((BLOCK, floor_to(first, BLOCK)), (DAY, max(first, day_lo))):
        size_s = int(size.total_seconds())
        hi = settled_before(now, size)
        marked = [t.size_s == size_s, t.tags == MARKER]
        for a, b in chunked(missing_ranges(session, t.slot_start, marked, lo, hi, size), size):
            if not hold_writers(
                session, t, [t.size_s == size_s, t.slot_start >= a, t.slot_start < b]
            ):
                continue
            insert_missing(session, t, rows_from_ledger(session, a, b, size))
            session.commit()
            stored += len(list(slices(a, b, size)))
    return stored


def stored_sums(
    session: Session, first: datetime, hi: datetime, where: Sequence[Any]
) -> tuple[dict[str, Any], list[tuple[datetime, datetime]]]:
    """The grades from the first (graded on `first`'s day or later) to the day boundary `hi`
    summed in SQL over the stored rows matching `where`: whole blocks, then the days after
    the last whole block; and the stretches of slices not stored yet (the caller sums those
    from the ledger: reads do not write)."""
    t = RollupBetTotal
    block_lo, mid = floor_to(first, BLOCK), floor_to(hi, BLOCK)
    day_lo = max(mid, first)  # no grade is older than the first's day
    block_s, day_s = int(BLOCK.total_seconds()), int(DAY.total_seconds())
    in_blocks = and_(t.size_s == block_s, t.slot_start >= block_lo, t.slot_start < mid)
    in_days = and_(t.size_s == day_s, t.slot_start >= day_lo, t.slot_start < hi)
    marked: dict[int, list[datetime]] = {block_s: [], day_s: []}
    for size_s, start in session.execute(
        select(t.size_s, t.slot_start).where(t.tags == MARKER, or_(in_blocks, in_days))
    ):
        marked[size_s].append(start)
    row = session.execute(
        select(*[func.coalesce(func.sum(getattr(t, n)), 0) for n in TOTAL_SUMS]).where(
            or_(in_blocks, in_days), t.tags != MARKER, *where
        )
    ).one()
    sums = {
        n: int(v or 0) if n in INTEGER_SUMS else float(v or 0.0)
        for n, v in zip(TOTAL_SUMS, row, strict=True)
    }
    missing = gaps(marked[block_s], block_lo, mid, BLOCK) + gaps(marked[day_s], day_lo, hi, DAY)
    return sums, missing
