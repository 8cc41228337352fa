"""What the strategies found, as bets: one row per (game, market, side, point, book, price)
with every strategy that signalled it, arbitrage as one position with its legs, whether each
price is still offered, and detection latencies."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from app.models import Game, OpportunityRow
from app.pipelines.odds import american_to_decimal, decimal_to_american
from app.queries.bets import current_quotes
from app.queries.paging import order_terms

ARBITRAGE = "arbitrage"


@dataclass(frozen=True, slots=True)
class OpportunityView:
    """One bet some strategies flagged: its newest detection, its best signal, all its tags."""

    detected_at: datetime  # the newest detection of this bet at this price
    game: str
    home: str | None
    away: str | None
    commence_time: datetime | None
    market: str
    side: str
    point: float | None
    book: str
    price: int
    fair_price: int | None  # American odds of the fair probability
    ev: float  # expected value per unit staked (the best signal's)
    kelly_fraction: float
    strategy: str  # the best signal's
    strategies: tuple[str, ...]
    latency_s: float
    explanation: str
    live: bool = False  # the book still offers this price (or better) and the game is ahead


@dataclass(frozen=True, slots=True)
class ArbLeg:
    """One side of an arbitrage at one book, and its share of the total stake."""

    side: str
    book: str
    price: int
    point: float | None
    stake_share: float  # (1/d_i) / sum(1/d): every outcome then pays alike
    live: bool = False


@dataclass(frozen=True, slots=True)
class ArbitrageView:
    """The newest detection of one arbitrage (game, market, line): its legs and profit."""

    detected_at: datetime
    game: str
    home: str | None
    away: str | None
    commence_time: datetime | None
    market: str
    point: float | None
    profit: float  # 1/A - 1
    legs: tuple[ArbLeg, ...]
    latency_s: float
    explanation: str

    @property
    def live(self) -> bool:
        """Every leg is still offered."""
        return bool(self.legs) and all(leg.live for leg in self.legs)


def fair_american(p: float | None) -> int | None:
    """The fair price in American odds of probability `p`, or None outside (0, 1)."""
    if p is None or not 0 < p < 1:
        return None
    return decimal_to_american(1 / p)


def _window(now: datetime, window: timedelta) -> list[ColumnElement[bool]]:
    return [OpportunityRow.detected_at >= now - window]


# What the opportunities grid may sort by: its column keys -> columns (nothing else).
OPPORTUNITY_SORTS: dict[str, Any] = {
    "price": OpportunityRow.price,
    "book": OpportunityRow.book,
    "ev_pct": OpportunityRow.ev,
    "kelly_pct": OpportunityRow.kelly_fraction,
    "start": Game.commence_time,
    "market": OpportunityRow.market,
    "detected": OpportunityRow.detected_at,  # the group's newest detection, in the query
    "latency_s": OpportunityRow.latency_ms,
}


def _bet_query(
    now: datetime,
    strategy: str | None,
    min_ev: float | None,
    book: str | None,
    window: timedelta,
    positive_only: bool,
    order: Sequence[tuple[str, bool]],
) -> Any:
    """One row per bet detected in the window (its best signal), filtered and ordered."""
    o = OpportunityRow
    conditions = [*_window(now, window), o.strategy != ARBITRAGE]
    if book:
        conditions.append(o.book == book)
    group = (o.game_key, o.market, o.side, o.point, o.book, o.price)
    if strategy:
        tagged = aliased(OpportunityRow)
        conditions.append(
            exists().where(
                tagged.strategy == strategy,
                tagged.detected_at >= now - window,
                *(
                    getattr(tagged, c.key).is_not_distinct_from(c)
                    for c in group  # a NULL point matches a NULL point
                ),
            )
        )
    ranked = (
        select(
            o.id,
            func.row_number()
            .over(partition_by=group, order_by=(o.ev.desc(), o.detected_at.desc(), o.id))
            .label("rn"),
            func.max(o.detected_at).over(partition_by=group).label("newest"),
        )
        .where(*conditions)
        .subquery()
    )
    query = (
        select(o, ranked.c.newest, Game.home, Game.away, Game.commence_time)
        .join(ranked, ranked.c.id == o.id)
        .outerjoin(Game, Game.game_key == o.game_key)
        .where(ranked.c.rn == 1)
    )
    if positive_only:
        query = query.where(o.ev > 0)  # judged on the bet's best signal
    if min_ev is not None:
        query = query.where(o.ev >= min_ev)
    sorts = {**OPPORTUNITY_SORTS, "detected": ranked.c.newest}
    return query.order_by(*order_terms(order, sorts), ranked.c.newest.desc(), o.id)


def opportunity_evs(
    session: Session,
    now: datetime,
    *,
    strategy: str | None = None,
    min_ev: float | None = None,
    book: str | None = None,
    window: timedelta = timedelta(hours=24),
    limit: int = 500,
    positive_only: bool = True,
) -> list[float]:
    """The EV of each bet `opportunities` lists with the same arguments, in its order: the
    histogram's values without the rows' tags, games and current prices."""
    query = _bet_query(now, strategy, min_ev, book, window, positive_only, ())
    return list(session.scalars(query.with_only_columns(OpportunityRow.ev).limit(limit)))


def opportunities(
    session: Session,
    now: datetime,
    *,
    strategy: str | None = None,
    min_ev: float | None = None,
    book: str | None = None,
    window: timedelta = timedelta(hours=24),
    limit: int = 500,
    positive_only: bool = True,
    offset: int = 0,
    order: Sequence[tuple[str, bool]] = (),
) -> list[OpportunityView]:
    """One row per (game, market, side, point, book, price) detected in the window, its best
    signal's figures and every strategy's tag; newest first, or in `order` ((key of
    OPPORTUNITY_SORTS, descending) pairs). `positive_only` keeps EV > 0."""
    o = OpportunityRow
    group = (o.game_key, o.market, o.side, o.point, o.book, o.price)
    query = _bet_query(now, strategy, min_ev, book, window, positive_only, order)
    found = session.execute(query.offset(offset).limit(limit)).all()
    if not found:
        return []
    games = {row[0].game_key for row in found}
    tags: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for *cells, name in session.execute(
        select(*group, o.strategy)
        .distinct()
        .where(*_window(now, window), o.strategy != ARBITRAGE, o.game_key.in_(sorted(games)))
    ):
        tags[tuple(cells)].add(name)
    current = current_quotes(session, games)
    out = []
    for r, newest, home, away, start in found:
        key = (r.game_key, r.market, r.side, r.point, r.book, r.price)
        ahead = start is None or start > now
        out.append(
            OpportunityView(
                newest, r.game_key, home, away, start, r.market, r.side, r.point, r.book,
                r.price, fair_american(r.fair_prob), r.ev, r.kelly_fraction, r.strategy,
                tuple(sorted(tags.get(key) or {r.strategy})), r.latency_ms / 1000,
                r.explanation,
                ahead and _offered(current, r.game_key, r.market, r.side, r.book, r.point, r.price),
            )
        )  # fmt: skip
    return out


def _offered(
    current: dict[tuple[str, str, str], list[tuple[str, int, float | None]]],
    game: str,
    market: str,
    side: str,
    book: str,
    point: float | None,
    price: int,
) -> bool:
    """True when `book`'s newest quote of this side is at `point` and pays `price` or more."""
    for b, p, pt in current.get((game, market, side), []):
        if b == book and pt == point:
            return american_to_decimal(p) >= american_to_decimal(price)
    return False


def arbitrages(
    session: Session,
    now: datetime,
    *,
    book: str | None = None,
    window: timedelta = timedelta(hours=24),
    limit: int = 100,
) -> list[ArbitrageView]:
    """The newest detection of each arbitrage (game, market, line) in the window, one position
    with its legs (the legs of one detection share their triggering data's time)."""
    o = OpportunityRow
    newest = (
        select(
            o.game_key,
            o.market,
            func.max(o.data_available_at).label("at"),
        )
        .where(*_window(now, window), o.strategy == ARBITRAGE)
        .group_by(o.game_key, o.market)
        .subquery()
    )
    rows = session.execute(
        select(o, Game.home, Game.away, Game.commence_time)
        .join(
            newest,
            and_(
                newest.c.game_key == o.game_key,
                newest.c.market == o.market,
                newest.c.at == o.data_available_at,
            ),
        )
        .outerjoin(Game, Game.game_key == o.game_key)
        .where(o.strategy == ARBITRAGE, *_window(now, window))
        .order_by(o.detected_at.desc(), o.side)
        .limit(limit * 3)  # two or three legs each
    ).all()
    positions: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        legs = positions[(row[0].game_key, row[0].market)]
        if all(leg[0].side != row[0].side for leg in legs):  # one leg per side, the newest
            legs.append(row)
    current = current_quotes(session, {g for g, _ in positions})
    out = []
    for (game, market), legs in positions.items():
        if book and all(leg[0].book != book for leg in legs):
            continue
        first, home, away, start = legs[0]
        inverse = sum(1 / american_to_decimal(leg[0].price) for leg in legs)
        ahead = start is None or start > now
        out.append(
            ArbitrageView(
                max(leg[0].detected_at for leg in legs), game, home, away, start, market,
                None if market == "h2h" else min(legs, key=lambda leg: leg[0].side)[0].point,
                first.ev,
                tuple(
                    ArbLeg(
                        leg[0].side, leg[0].book, leg[0].price, leg[0].point,
                        (1 / american_to_decimal(leg[0].price)) / inverse,
                        ahead and _offered(current, game, market, leg[0].side, leg[0].book,
                                           leg[0].point, leg[0].price),
                    )
                    for leg in sorted(legs, key=lambda leg: leg[0].side)
                ),
                first.latency_ms / 1000, first.explanation,
            )
        )  # fmt: skip
    out.sort(key=lambda a: a.detected_at, reverse=True)
    return out[:limit]


def opportunity_books(session: Session, now: datetime, window: timedelta) -> list[str]:
    """Every book an opportunity was detected at in the window (for the book picker)."""
    return sorted(
        session.scalars(select(OpportunityRow.book).distinct().where(*_window(now, window))).all()
    )


def detection_latencies(session: Session, now: datetime, window: timedelta) -> list[float]:
    """Detection latencies in seconds over the window (for the histogram)."""
    rows = session.scalars(
        select(OpportunityRow.latency_ms)
        .where(OpportunityRow.detected_at >= now - window)
        .order_by(OpportunityRow.detected_at.desc())
        .limit(20000)
    )
    return [ms / 1000 for ms in rows]
