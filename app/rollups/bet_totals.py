"""Bets graded per UTC day, summed by the keys the bets page filters on, so its totals line
over a year reads the stored days instead of every bet and grade.

A row's `tags` are every strategy the strategy filter finds the bet under (the credited one
and every one that signalled it), its `books` every book the book filter finds it under (the
bet's own and each arbitrage leg's), both as '|a|b|'; `state` is settled or void. The sums are
the bets page's (`app.queries.bets.BetTotals`): the recommendation's stake and price CLV, the
grade's stake, profit and result. A marker row (tags '*') says a day was computed.

A graded recommendation is never restaked, moved or re-closed (the recommend stage only
updates open ones; its close is read before its grade is written), so a grade's writes alone
change a day, and the grades' invalidation forgets it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Grade, Recommendation, RecommendationLeg, RollupBetTotal
from app.rollups.grade_days import first_day
from app.rollups.slices import (
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
Key = tuple[datetime, str, str, str, str]  # (day, tags, books, market, state)


def key_text(names: Iterable[str]) -> str:
    """'|a|b|': the names sorted, each between bars (a filter looks for '|name|')."""
    return "|" + "|".join(sorted(set(names))) + "|"


def _zero() -> dict[str, Any]:
    return {name: 0 if name in INTEGER_SUMS else 0.0 for name in TOTAL_SUMS}


def rows_from_ledger(session: Session, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    """RollupBetTotal rows for the days in [lo, hi), from the grades and their bets (one row
    read per grade: the tags and leg books are lists, summed here), markers included."""
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
            floor_to(aware(bet.graded_at), DAY),
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
    out = [
        {"day": d, "tags": t, "books": b, "market": m, "state": s, **sums}
        for (d, t, b, m, s), sums in found.items()
    ]
    out += [
        {"day": t, "tags": MARKER, "books": "", "market": "", "state": "", **_zero()}
        for t in slices(lo, hi, DAY)
    ]
    return out


def refresh(session: Session, now: datetime) -> int:
    """Store every settled day since the first grade that has no rows yet, committing chunk by
    chunk; days stored."""
    lo = first_day(session)
    if lo is None:
        return 0
    t = RollupBetTotal
    hi = settled_before(now, DAY)
    stored = 0
    for a, b in chunked(missing_ranges(session, t.day, [t.tags == MARKER], lo, hi, DAY), DAY):
        if not hold_writers(session, RollupBetTotal, [t.day >= a, t.day < b]):
            continue
        insert_missing(session, RollupBetTotal, rows_from_ledger(session, a, b))
        session.commit()
        stored += len(list(slices(a, b, DAY)))
    return stored


def stored_sums(
    session: Session, lo: datetime, hi: datetime, where: Sequence[Any]
) -> tuple[dict[str, Any], list[tuple[datetime, datetime]]]:
    """The stored days in [lo, hi) summed in SQL over the rows matching `where`, and the
    stretches of days not stored yet (the caller sums those from the ledger: reads do not
    write)."""
    t = RollupBetTotal
    marked = session.scalars(select(t.day).where(t.tags == MARKER, t.day >= lo, t.day < hi)).all()
    row = session.execute(
        select(*[func.coalesce(func.sum(getattr(t, n)), 0) for n in TOTAL_SUMS]).where(
            t.day >= lo, t.day < hi, t.tags != MARKER, *where
        )
    ).one()
    sums = {
        n: int(v or 0) if n in INTEGER_SUMS else float(v or 0.0)
        for n, v in zip(TOTAL_SUMS, row, strict=True)
    }
    return sums, gaps(marked, lo, hi, DAY)
