"""recommend: one staked bet per (game, market, side, point), arbitrage as one position, ranked;
the close captured once first pitch has passed.

One bet, one stake: however many strategies flag the same bet, it is one recommendation listing
them all, staked at the largest of their fractional-Kelly fractions (each already capped per
bet), never their sum; a game's open bets together stay under the per-game cap (scaled down in
proportion). An arbitrage's legs (2 or 3 books) become one recommendation whose legs are staked
`B * (1/d_i) / A` so that every outcome pays the same, with B the per-bet cap.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, distinct, func, select
from sqlalchemy.orm import Session

from app.db import PreparedStatement, flushed_connection
from app.models import Game as GameRow
from app.models import OpportunityRow, QuoteRow, Recommendation, RecommendationLeg
from app.pipelines.closing import Close, close_of_bet
from app.pipelines.context import StageOutcome
from app.pipelines.market import market_line
from app.pipelines.odds import american_to_decimal, decimal_to_american
from app.pipelines.types import Quote

log = logging.getLogger("dugout.pipelines.recommend")
ARBITRAGE = "arbitrage"


def bet_key(game_key: str, market: str, side: str, point: float | None) -> str:
    """The identity of one bet: game, market, side and the bet's own point."""
    return f"{game_key}|{market}|{side}|{'' if point is None else f'{point:g}'}"


def arb_key(game_key: str, market: str, line: float | None) -> str:
    """The identity of one arbitrage position: game, market and line."""
    return f"{game_key}|{market}|arb|{'' if line is None else f'{line:g}'}"


def _quote(o: OpportunityRow | Recommendation | RecommendationLeg, game: str, market: str) -> Quote:
    """A row's bet as a Quote (for lines and closes); the time is irrelevant there."""
    return Quote(game, market, o.side, o.book, o.price, o.point, datetime.min)


def _singles(opps: Sequence[OpportunityRow]) -> dict[str, list[OpportunityRow]]:
    """Staked non-arbitrage signals grouped by bet."""
    groups: dict[str, list[OpportunityRow]] = defaultdict(list)
    for o in opps:
        if o.strategy != ARBITRAGE and o.kelly_fraction > 0:
            groups[bet_key(o.game_key, o.market, o.side, o.point)].append(o)
    return groups


def _arbs(opps: Sequence[OpportunityRow]) -> dict[str, list[OpportunityRow]]:
    """Arbitrage legs grouped into positions: one detection of one (game, market, line)."""
    found: dict[tuple[str, str, Any], list[OpportunityRow]] = defaultdict(list)
    for o in opps:
        if o.strategy == ARBITRAGE:
            found[(o.game_key, o.market, o.data_available_at)].append(o)
    groups: dict[str, list[OpportunityRow]] = {}
    for (game, market, _), legs in sorted(found.items(), key=lambda kv: kv[0][2]):
        sides = {leg.side: leg for leg in legs}  # one leg per side, the newest detection
        if len(sides) < 2:
            # a re-detection stores only the leg whose price changed (the other's row exists):
            # one leg is a plain bet, not an arbitrage, and is never staked as one
            continue
        line = market_line(_quote(legs[0], game, market))
        groups[arb_key(game, market, line)] = list(sides.values())
    return groups


def _upsert_single(
    session: Session,
    existing: dict[str, Recommendation],
    key: str,
    signals: list[OpportunityRow],
    bankroll: float,
    cap: float,
) -> bool:
    """One recommendation for one bet from all its signals; returns True when new."""
    best = max(signals, key=lambda o: (o.ev, american_to_decimal(o.price), o.book))
    fraction = min(max(o.kelly_fraction for o in signals), cap)
    strategies = sorted({o.strategy for o in signals})
    rec = existing.get(key)
    if rec is None:
        existing[key] = rec = Recommendation(
            bet_key=key,
            kind="single",
            opportunity_id=best.id,
            strategy=best.strategy,
            strategies=strategies,
            game_key=best.game_key,
            market=best.market,
            side=best.side,
            book=best.book,
            price=best.price,
            point=best.point,
            ev=best.ev,
            stake_units=round(fraction * bankroll, 4),
            created_at=best.detected_at,
            updated_at=best.detected_at,
        )
        session.add(rec)
        return True
    if rec.status == "open":
        rec.opportunity_id, rec.strategy, rec.book, rec.price = (
            best.id,
            best.strategy,
            best.book,
            best.price,
        )
        rec.ev, rec.stake_units, rec.updated_at = (
            best.ev,
            round(fraction * bankroll, 4),
            best.detected_at,
        )
        rec.strategies = sorted(set(rec.strategies or []) | set(strategies))
    return False


def _upsert_arb(
    session: Session,
    existing: dict[str, Recommendation],
    key: str,
    legs: list[OpportunityRow],
    bankroll: float,
    cap: float,
) -> bool:
    """One arbitrage position with its legs staked to pay out equally; True when new."""
    decimals = [american_to_decimal(leg.price) for leg in legs]
    total_inverse = sum(1.0 / d for d in decimals)
    stake = round(cap * bankroll, 4)
    first = legs[0]
    rec = existing.get(key)
    new = rec is None
    if rec is None:
        existing[key] = rec = Recommendation(
            bet_key=key,
            kind=ARBITRAGE,
            strategy=ARBITRAGE,
            strategies=[ARBITRAGE],
            game_key=first.game_key,
            market=first.market,
            side="all",
            point=market_line(_quote(first, first.game_key, first.market)),
            created_at=first.detected_at,
        )
        session.add(rec)
    elif rec.status != "open":
        return False
    rec.opportunity_id = first.id
    rec.book = "+".join(sorted({leg.book for leg in legs}))[:32]
    rec.price = decimal_to_american(1.0 / total_inverse)
    rec.ev, rec.stake_units, rec.updated_at = first.ev, stake, first.detected_at
    rec.legs = [
        RecommendationLeg(
            side=leg.side,
            book=leg.book,
            price=leg.price,
            point=leg.point,
            stake_units=round(stake * (1.0 / d) / total_inverse, 4),
        )
        for leg, d in zip(legs, decimals, strict=True)
    ]
    return new


def cap_games(session: Session, game_keys: set[str], limit_units: float) -> int:
    """Scale a game's open stakes down in proportion when together they exceed the per-game
    cap; returns how many games were scaled."""
    if not game_keys:
        return 0
    by_game: dict[str, list[Recommendation]] = defaultdict(list)
    for rec in session.scalars(
        select(Recommendation).where(
            Recommendation.status == "open", Recommendation.game_key.in_(game_keys)
        )
    ):
        by_game[rec.game_key].append(rec)
    scaled = 0
    for recs in by_game.values():
        total = sum(r.stake_units for r in recs)
        if total <= limit_units + 1e-9:
            continue
        factor = limit_units / total
        for rec in recs:
            rec.stake_units = round(rec.stake_units * factor, 4)
            for leg in rec.legs:
                leg.stake_units = round(leg.stake_units * factor, 4)
        scaled += 1
    return scaled


def stored_quotes(
    session: Session, game_key: str, market: str, first_pitch: Any, sources: Sequence[str]
) -> list[Quote]:
    """Every stored quote of one game's market at or before first pitch."""
    rows = session.execute(
        select(
            QuoteRow.game_key,
            QuoteRow.market,
            QuoteRow.side,
            QuoteRow.book,
            QuoteRow.price,
            QuoteRow.point,
            QuoteRow.last_update,
        ).where(
            QuoteRow.game_key == game_key,
            QuoteRow.market == market,
            QuoteRow.last_update <= first_pitch,
            QuoteRow.source.in_(list(sources)),
        )
    )
    return [Quote(*r) for r in rows]


def apply_close(
    session: Session,
    rec: Recommendation,
    first_pitch: datetime,
    sources: Sequence[str],
    sharp_books: frozenset[str],
    method: str,
    now: datetime,
) -> Close | None:
    """Read the bet's close from stored quotes and record it on the recommendation (an
    arbitrage position has no single price to close: only its time is recorded)."""
    rec.clv_at = now
    if rec.kind == ARBITRAGE:
        return None
    quotes = stored_quotes(session, rec.game_key, rec.market, first_pitch, sources)
    close = close_of_bet(
        quotes, first_pitch, _quote(rec, rec.game_key, rec.market), sharp_books, method
    )
    rec.close_price, rec.close_point, rec.close_fair_prob = (
        close.book_price,
        close.close_point,
        close.fair_prob,
    )
    rec.clv, rec.line_clv, rec.clv_basis = close.price_clv, close.line_clv, close.basis
    return close


# The open bets with their games' first pitch, in rank order (built once).
_OPEN_BETS = (
    select(Recommendation, GameRow.commence_time)
    .outerjoin(GameRow, GameRow.game_key == Recommendation.game_key)
    .where(Recommendation.status == "open")
    .order_by(Recommendation.ev.desc(), Recommendation.id)
)


# The open bets at a glance: how many, whether their ranks are 1..n, and how many have a game
# that has started (so must close) at :now. Prepared: most runs ask it and change nothing.
_OPEN_AT_A_GLANCE = PreparedStatement(
    select(
        func.count(),
        func.count(distinct(Recommendation.rank)),
        func.min(Recommendation.rank),
        func.max(Recommendation.rank),
        func.count(GameRow.commence_time).filter(GameRow.commence_time <= bindparam("now")),
    )
    .select_from(Recommendation)
    .outerjoin(GameRow, GameRow.game_key == Recommendation.game_key)
    .where(Recommendation.status == "open")
)


def nothing_to_close_or_rerank(session: Session, now: Any) -> bool:
    """Whether close_and_rerank would change nothing: no open bet's game has started and the
    open bets are ranked 1..n already. Ranks follow EV, and every writer that changes a bet's
    EV or opens one reranks in the same transaction, so ranks 1..n are in EV order; a bet that
    left the open ones (graded, closed) leaves a gap, which this sees."""
    count, distinct_ranks, low, high, started = _OPEN_AT_A_GLANCE.execute(
        flushed_connection(session), {"now": now}
    ).one()
    return not started and (count == 0 or (distinct_ranks == count and low == 1 and high == count))


def close_and_rerank(
    session: Session, now: Any, sources: Sequence[str], sharp_books: frozenset[str], method: str
) -> int:
    """From one read of the open bets: the ones whose game has started get their close, both
    CLVs and status 'closed'; the others are ranked by EV, then id (closing changes no EV).
    Returns how many were closed."""
    rows = session.execute(_OPEN_BETS).all()
    closed = 0
    for rec, first_pitch in rows:
        if first_pitch is not None and first_pitch <= now:
            apply_close(session, rec, first_pitch, sources, sharp_books, method, now)
            rec.status = "closed"
            closed += 1
    rank = 0
    for rec, _ in rows:
        if rec.status == "open":
            rank += 1
            if rec.rank != rank:
                rec.rank = rank
    return closed


def quote_sources(src: Any) -> list[str]:
    """Names of the configured sources that give quotes."""
    return [s.name for s in src.ctx.sources if "quotes" in getattr(s, "provides", {"quotes"})]


def sharp_books_of(src: Any) -> frozenset[str]:
    """Every book some configured source knows to be sharp."""
    return frozenset().union(*(getattr(s, "sharp_books", frozenset()) for s in src.ctx.sources))


def devig_method(src: Any) -> str:
    """The de-vig method the strategies use (the close is judged the same way)."""
    strategies = src.ctx.strategies
    config = getattr(strategies[0], "config", None) if strategies else None
    return getattr(config, "devig_method", "multiplicative")


def _kelly_cap(src: Any) -> float:
    strategies = src.ctx.strategies
    config = getattr(strategies[0], "config", None) if strategies else None
    return float(getattr(config, "kelly_cap", 0.02))


def recommend(src: Any) -> StageOutcome:
    """Turn this run's opportunities into recommendations; close started games."""
    bankroll = src.ctx.settings.bankroll_units
    cap = _kelly_cap(src)
    analysed = src.results.get("analyze")
    with src.sessions.begin() as session:
        opps: Sequence[OpportunityRow] = []  # this run's analysis stored none: nothing to read
        if analysed is None or analysed.records_out > 0:
            query = select(OpportunityRow).where(OpportunityRow.ev > 0)
            if analysed is not None:
                query = query.where(OpportunityRow.run_id == src.run_id)
            else:
                query = query.join(GameRow, GameRow.game_key == OpportunityRow.game_key).where(
                    GameRow.commence_time > src.now
                )
            opps = session.scalars(query.order_by(OpportunityRow.detected_at)).all()
        singles, arbs = _singles(opps), _arbs(opps)
        keys = list(singles) + list(arbs)
        existing = (
            {
                r.bet_key: r
                for r in session.scalars(
                    select(Recommendation).where(Recommendation.bet_key.in_(keys))
                )
            }
            if keys
            else {}
        )
        created = sum(
            _upsert_single(session, existing, k, v, bankroll, cap) for k, v in singles.items()
        ) + sum(_upsert_arb(session, existing, k, v, bankroll, cap) for k, v in arbs.items())
        session.flush()
        games = {r.game_key for r in existing.values()}
        scaled = cap_games(session, games, src.ctx.settings.kelly_game_cap * bankroll)
        closed = (
            0
            if not keys and nothing_to_close_or_rerank(session, src.now)
            else close_and_rerank(
                session, src.now, quote_sources(src), sharp_books_of(src), devig_method(src)
            )
        )
    return StageOutcome(
        "succeeded",
        len(opps),
        created,
        detail={
            "created": created,
            "updated": len(keys) - created,
            "arbitrage": len(arbs),
            "games_capped": scaled,
            "closed": closed,
        },
    )
