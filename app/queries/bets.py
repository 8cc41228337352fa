"""Every recommendation as a bet: its game, price taken, stake, strategies, the current best
price and whether it is still offered, its close and CLV, its result; arbitrage positions with
their legs; totals of the filtered set: settled days from the totals rollup, the rest from one
SQL aggregate each.

A bet's state for a reader: `open` (not graded yet: before first pitch, or started and
closed), `settled` (graded win, loss or push) or `void` (graded void)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.db import utcnow
from app.models import Game, Grade, QuoteRow, Recommendation, RecommendationLeg, RollupBetTotal
from app.pipelines.odds import american_to_decimal
from app.queries.paging import order_terms
from app.rollups import bet_totals as rollup
from app.rollups.grade_days import first_day
from app.rollups.slices import DAY, settled_before

BET_STATES = ("open", "settled", "void")


@dataclass(frozen=True, slots=True)
class BetFilter:
    """What the reader asked for; every field optional. Dates bound the first pitch."""

    state: str | None = None  # open | settled | void
    strategy: str | None = None
    book: str | None = None
    market: str | None = None
    start_from: datetime | None = None  # first pitch at or after
    start_before: datetime | None = None  # first pitch before


@dataclass(frozen=True, slots=True)
class LegView:
    """One leg of an arbitrage position."""

    side: str
    book: str
    price: int
    point: float | None
    stake_units: float


@dataclass(frozen=True, slots=True)
class BetView:
    """One recommendation as the bets page shows it (plain data, no formatting)."""

    id: str
    kind: str  # single | arbitrage
    state: str  # open | settled | void
    game_key: str
    home: str | None
    away: str | None
    commence_time: datetime | None
    market: str
    side: str
    point: float | None
    book: str
    price: int
    stake_units: float
    strategies: tuple[str, ...]
    created_at: datetime
    close_price: int | None
    close_point: float | None
    clv: float | None  # price CLV
    line_clv: float | None  # points
    clv_basis: str | None
    result: str | None  # win | loss | push | void
    profit_units: float | None
    legs: tuple[LegView, ...] = ()
    current_price: int | None = None  # best price now at the bet's point, any book
    current_book: str | None = None
    still_available: bool | None = None  # the bet's book still offers this price or better


@dataclass(frozen=True, slots=True)
class BetTotals:
    """The filtered set summed: bets, stake, profit of the settled, ROI, average price CLV."""

    bets: int
    staked: float  # every bet with action or pending (voids excluded)
    settled: int
    settled_staked: float
    units: float
    clv_n: int
    clv_sum: float
    wins: int = 0
    losses: int = 0
    pushes: int = 0

    @property
    def roi(self) -> float | None:
        """Profit over the amount staked on settled bets."""
        return self.units / self.settled_staked if self.settled_staked else None

    @property
    def avg_clv(self) -> float | None:
        """Mean price CLV of the bets that have one."""
        return self.clv_sum / self.clv_n if self.clv_n else None


@dataclass(frozen=True, slots=True)
class BetPage:
    """The rows asked for (newest first pitch first, at most `limit`) and the totals of all."""

    rows: list[BetView]
    totals: BetTotals
    truncated: bool = False


def _state_column() -> ColumnElement[str]:
    return case(
        (Grade.result == "void", "void"),
        (Grade.result.is_not(None), "settled"),
        else_="open",
    )


def _conditions(f: BetFilter) -> list[ColumnElement[bool]]:
    r = Recommendation
    out: list[ColumnElement[bool]] = []
    if f.state == "open":
        out.append(Grade.id.is_(None))
    elif f.state == "settled":
        out.append(and_(Grade.id.is_not(None), Grade.result != "void"))
    elif f.state == "void":
        out.append(Grade.result == "void")
    if f.strategy:
        # the tags are a JSON list of names: match the quoted name in its text, on both DBs
        out.append(
            or_(r.strategy == f.strategy, cast(r.strategies, String).contains(f'"{f.strategy}"'))
        )
    if f.book:
        leg = RecommendationLeg
        out.append(
            or_(
                r.book == f.book,
                exists().where(leg.recommendation_id == r.id, leg.book == f.book),
            )
        )
    if f.market:
        out.append(r.market == f.market)
    if f.start_from is not None:
        out.append(Game.commence_time >= f.start_from)
    if f.start_before is not None:
        out.append(Game.commence_time < f.start_before)
    return out


def _base(f: BetFilter, *columns: Any) -> Any:
    return (
        select(*columns)
        .select_from(Recommendation)
        .outerjoin(Game, Game.game_key == Recommendation.game_key)
        .outerjoin(Grade, Grade.recommendation_id == Recommendation.id)
        .where(*_conditions(f))
    )


def _sums(session: Session, f: BetFilter, *where: ColumnElement[bool]) -> dict[str, Any]:
    """The bets matching `f` (and `where`) summed in one SQL aggregate, as TOTAL_SUMS."""
    r, g = Recommendation, Grade
    settled = and_(g.id.is_not(None), g.result != "void")
    row = session.execute(
        _base(
            f,
            func.count(r.id),
            func.coalesce(func.sum(case((g.result == "void", 0.0), else_=r.stake_units)), 0.0),
            func.coalesce(func.sum(case((settled, 1), else_=0)), 0),
            func.coalesce(func.sum(case((settled, g.stake_units), else_=0.0)), 0.0),
            func.coalesce(func.sum(case((settled, g.profit_units), else_=0.0)), 0.0),
            func.count(r.clv),
            func.coalesce(func.sum(r.clv), 0.0),
            func.coalesce(func.sum(case((g.result == "win", 1), else_=0)), 0),
            func.coalesce(func.sum(case((g.result == "loss", 1), else_=0)), 0),
            func.coalesce(func.sum(case((g.result == "push", 1), else_=0)), 0),
        ).where(*where)
    ).one()
    return {
        n: int(v or 0) if n in rollup.INTEGER_SUMS else float(v or 0.0)
        for n, v in zip(rollup.TOTAL_SUMS, row, strict=True)
    }


# A filter name the rollup's '|a|b|' keys can be searched for exactly (a bar would not be).
_KEY_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,32}")


def _rollup_conditions(f: BetFilter) -> list[ColumnElement[bool]] | None:
    """`f` on the totals rollup's columns; None when the rollup cannot answer it (first-pitch
    dates: a game's start is not a grade's day; a name its keys cannot hold)."""
    t = RollupBetTotal
    if f.start_from is not None or f.start_before is not None:
        return None
    out: list[ColumnElement[bool]] = []
    if f.state in ("settled", "void"):
        out.append(t.state == f.state)
    for column, name in ((t.tags, f.strategy), (t.books, f.book)):
        if name:
            if not _KEY_NAME.fullmatch(name):
                return None
            out.append(column.contains(f"|{name}|", autoescape=True))
    if f.market:
        out.append(t.market == f.market)
    return out


def bet_totals(session: Session, f: BetFilter, now: datetime | None = None) -> BetTotals:
    """The filtered set summed: bets graded on settled days from the totals rollup
    (`app.rollups.bet_totals`), days not stored yet, today's grades and the bets not graded
    yet from one aggregate each over the ledger, so the figures are one scan's; with
    first-pitch dates, one aggregate over the filtered bets."""
    where = _rollup_conditions(f)
    if where is None:
        return BetTotals(**_sums(session, f))
    parts: list[dict[str, Any]] = []
    if f.state != "open":
        first = first_day(session)
        edge = settled_before(now or utcnow(), DAY)
        if first is not None and first < edge:
            stored, missing = rollup.stored_sums(session, first, edge, where)
            parts.append(stored)
            parts += [
                _sums(session, f, Grade.graded_at >= a, Grade.graded_at < b) for a, b in missing
            ]
            parts.append(_sums(session, f, Grade.graded_at >= edge))
        else:
            parts.append(_sums(session, f, Grade.id.is_not(None)))
    if f.state in (None, "open"):
        # not graded: the grade stage marks a bet graded as it writes its grade
        # (the literal as the partial index states it, so both planners can use that index)
        ungraded = Recommendation.status != literal_column("'graded'")
        parts.append(_sums(session, f, Grade.id.is_(None), ungraded))
    return BetTotals(**{n: sum(p[n] for p in parts) for n in rollup.TOTAL_SUMS})


def _gameless(session: Session, f: BetFilter) -> int:
    """How many of the filtered bets name a game no row holds (they have no first pitch to
    sort by): the game keys the bets name, a walk over their index with a probe of the games
    per key, and the filtered bets of the keys with no game, if any."""
    walk = _distinct_walk(Recommendation.game_key)
    lost = list(
        session.scalars(
            select(walk.c.value).where(
                walk.c.value.is_not(None),
                ~exists().where(Game.game_key == walk.c.value),
            )
        )
    )
    if not lost:
        return 0
    r = Recommendation
    return int(session.scalar(_base(f, func.count(r.id)).where(r.game_key.in_(lost))) or 0)


def _distinct_walk(column: Any, *where: ColumnElement[bool]) -> Any:
    """The distinct values of an indexed column as a CTE, one index probe each (a loose index
    scan: each step asks for the first value above the last one found), not a scan of every
    row."""

    def first_after(previous: Any | None) -> Any:
        query = select(column).where(*where)
        if previous is not None:
            query = query.where(column > previous)
        return query.order_by(column).limit(1).scalar_subquery()

    walk = select(first_after(None).label("value")).cte("walk", recursive=True)
    return walk.union_all(select(first_after(walk.c.value)).where(walk.c.value.is_not(None)))


def _distinct_values(session: Session, column: Any, *where: ColumnElement[bool]) -> set[str]:
    """The distinct values of an indexed column (see _distinct_walk)."""
    walk = _distinct_walk(column, *where)
    return set(session.scalars(select(walk.c.value).where(walk.c.value.is_not(None))))


def bet_books(session: Session) -> list[str]:
    """Every book a bet or an arbitrage leg was placed at (for the book picker): a walk over
    the books' indexes, a probe per book, whatever the history's length."""
    r = Recommendation
    # the literal as the partial index states it, so both planners can use that index
    single = r.kind != literal_column("'arbitrage'")
    singles = _distinct_values(session, r.book, single)
    legs = _distinct_values(session, RecommendationLeg.book)
    return sorted(singles | legs)


# What the bets grid may sort by: its column keys -> columns (nothing else reaches SQL).
BET_SORTS: dict[str, Any] = {
    "price": Recommendation.price,
    "stake": Recommendation.stake_units,
    "book": Recommendation.book,
    "state": _state_column(),
    "result": Grade.result,
    "units": Grade.profit_units,
    "clv": Recommendation.clv,
    "line_clv": Recommendation.line_clv,
    "close": Recommendation.close_price,
    "start": Game.commence_time,
    "market": Recommendation.market,
    "placed": Recommendation.created_at,
}


def bets(
    session: Session,
    f: BetFilter,
    now: datetime,
    limit: int = 500,
    offset: int = 0,
    order: Sequence[tuple[str, bool]] = (),
) -> BetPage:
    """The bets matching `f`, newest first pitch first (or in `order`: (key of BET_SORTS,
    descending) pairs, a grid's sort), with their legs and current prices."""
    totals = bet_totals(session, f, now)
    if order:  # a chosen sort: one ORDER BY over the filtered set, then the default order
        r = Recommendation
        query = _base(
            f,
            r,
            Game.home,
            Game.away,
            Game.commence_time,
            _state_column().label("state"),
            Grade.result,
            Grade.profit_units,
        ).order_by(
            *order_terms(order, BET_SORTS), Game.commence_time.desc(), r.created_at.desc(), r.id
        )
        found = session.execute(query.offset(offset).limit(limit + 1)).all()
    else:
        found = _page(session, f, totals.bets, _gameless(session, f), offset, limit + 1)
    truncated = len(found) > limit
    found = found[:limit]
    ids = [row[0].id for row in found]
    legs: dict[Any, list[LegView]] = {}
    if any(row[0].kind == "arbitrage" for row in found):
        for leg in session.scalars(
            select(RecommendationLeg)
            .where(RecommendationLeg.recommendation_id.in_(ids))
            .order_by(RecommendationLeg.side)
        ):
            legs.setdefault(leg.recommendation_id, []).append(
                LegView(leg.side, leg.book, leg.price, leg.point, leg.stake_units)
            )
    upcoming = {
        row[0].id
        for row in found
        if row.state == "open" and row.commence_time is not None and row.commence_time > now
    }
    current = current_quotes(session, {row[0].game_key for row in found if row[0].id in upcoming})
    rows = []
    for row in found:
        rec = row[0]
        best: tuple[int | None, str | None, bool | None] = (None, None, False)
        if rec.id in upcoming and rec.kind == "arbitrage":
            best = (None, None, None)  # a position of several prices: see its legs
        elif rec.id in upcoming:
            best = _availability(rec, current.get((rec.game_key, rec.market, rec.side), []))
        rows.append(
            BetView(
                id=str(rec.id),
                kind=rec.kind,
                state=row.state,
                game_key=rec.game_key,
                home=row.home,
                away=row.away,
                commence_time=row.commence_time,
                market=rec.market,
                side=rec.side,
                point=rec.point,
                book=rec.book,
                price=rec.price,
                stake_units=rec.stake_units,
                strategies=tuple(sorted(set(rec.strategies or [rec.strategy]))),
                created_at=rec.created_at,
                close_price=rec.close_price,
                close_point=rec.close_point,
                clv=rec.clv,
                line_clv=rec.line_clv,
                clv_basis=rec.clv_basis,
                result=row.result,
                profit_units=row.profit_units,
                legs=tuple(legs.get(rec.id, ())),
                current_price=best[0],
                current_book=best[1],
                still_available=best[2],
            )
        )
    return BetPage(rows, totals, truncated)


def _page(
    session: Session, f: BetFilter, total: int, gameless: int, offset: int, want: int
) -> list[Any]:
    """Rows [offset, offset + want) of the filtered bets, newest first pitch first (then newest
    bet, then id), as one ORDER BY over the whole set would give them; but the bets with a
    game come from a walk down the games' first-pitch index (a page costs its rows, not the
    history), and the bets without one (no first pitch: PostgreSQL sorts them first, SQLite
    last) from a query of their own, asked only when the page reaches them."""
    r, g = Recommendation, Grade
    columns = (
        r,
        Game.home,
        Game.away,
        Game.commence_time,
        _state_column().label("state"),
        g.result,
        g.profit_units,
    )
    with_game = (
        select(*columns)
        .select_from(Recommendation)
        .join(Game, Game.game_key == r.game_key)
        .outerjoin(Grade, Grade.recommendation_id == r.id)
        .where(*_conditions(f))
        .order_by(Game.commence_time.desc(), r.created_at.desc(), r.id)
    )
    without = _base(f, *columns).where(Game.id.is_(None)).order_by(r.created_at.desc(), r.id)
    first_gameless = session.get_bind().dialect.name == "postgresql"
    segments = [(without, gameless), (with_game, total - gameless)]
    if not first_gameless:
        segments.reverse()
    out: list[Any] = []
    start = offset
    for query, size in segments:
        if len(out) >= want:
            break
        if start >= size:
            start -= size
            continue
        if size > 0:
            out += session.execute(query.offset(start).limit(want - len(out))).all()
        start = 0
    return out


Key = tuple[str, str, str]


def current_quotes(
    session: Session, game_keys: set[str]
) -> dict[Key, list[tuple[str, int, float | None]]]:
    """Each book's newest quote per (game, market, side) of these games: (book, price, point)."""
    if not game_keys:
        return {}
    q = QuoteRow
    newest = (
        select(
            q.game_key,
            q.market,
            q.side,
            q.book,
            q.price,
            q.point,
            func.row_number()
            .over(
                partition_by=(q.game_key, q.market, q.side, q.book),
                order_by=(q.last_update.desc(), q.collected_at.desc()),
            )
            .label("rn"),
        )
        .where(q.game_key.in_(sorted(game_keys)))
        .subquery()
    )
    out: dict[Key, list[tuple[str, int, float | None]]] = {}
    for game, market, side, book, price, point in session.execute(
        select(
            newest.c.game_key,
            newest.c.market,
            newest.c.side,
            newest.c.book,
            newest.c.price,
            newest.c.point,
        ).where(newest.c.rn == 1)
    ):
        out.setdefault((game, market, side), []).append((book, price, point))
    return out


def _availability(
    rec: Recommendation, quotes: Sequence[tuple[str, int, float | None]]
) -> tuple[int | None, str | None, bool]:
    """(best price now at the bet's point, its book, whether the bet's book still offers the
    price taken or better at that point)."""
    same_point = [(b, p) for b, p, pt in quotes if pt == rec.point]
    if not same_point:
        return None, None, False
    book, price = max(same_point, key=lambda bp: (american_to_decimal(bp[1]), bp[0]))
    own = next((p for b, p in same_point if b == rec.book), None)
    available = own is not None and american_to_decimal(own) >= american_to_decimal(rec.price)
    return price, book, available
