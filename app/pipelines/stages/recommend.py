"""recommend: dedupe, rank and stake opportunities; capture the closing line at first pitch."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Game as GameRow
from app.models import OpportunityRow, QuoteRow, Recommendation
from app.pipelines.context import StageOutcome
from app.pipelines.market import (
    consensus_fair_probs,
    group_book_markets,
    latest_quotes,
    market_line,
)
from app.pipelines.odds import american_to_decimal, closing_line_value
from app.pipelines.types import Quote

log = logging.getLogger("dugout.pipelines.recommend")


RecKey = tuple[str, str, str, str]


def _existing(session: Session, opps: list[OpportunityRow]) -> dict[RecKey, Recommendation]:
    keys = {o.game_key for o in opps}
    if not keys:
        return {}
    recs = session.scalars(select(Recommendation).where(Recommendation.game_key.in_(keys)))
    return {(r.game_key, r.market, r.side, r.strategy): r for r in recs}


def _upsert(
    session: Session, existing: dict[RecKey, Recommendation], opp: OpportunityRow, bankroll: float
) -> bool:
    """One open recommendation per (game, market, side, strategy); returns True when new."""
    key = (opp.game_key, opp.market, opp.side, opp.strategy)
    rec = existing.get(key)
    stake = round(opp.kelly_fraction * bankroll, 4)
    if rec is None:
        existing[key] = rec = Recommendation(
            opportunity_id=opp.id,
            strategy=opp.strategy,
            game_key=opp.game_key,
            market=opp.market,
            side=opp.side,
            book=opp.book,
            price=opp.price,
            point=opp.point,
            ev=opp.ev,
            stake_units=stake,
            created_at=opp.detected_at,
            updated_at=opp.detected_at,
        )
        session.add(rec)
        return True
    if rec.status == "open":
        rec.opportunity_id, rec.book, rec.price, rec.point = opp.id, opp.book, opp.price, opp.point
        rec.ev, rec.stake_units, rec.updated_at = opp.ev, stake, opp.detected_at
    return False


def _rerank(session: Session) -> None:
    open_recs = session.scalars(
        select(Recommendation)
        .where(Recommendation.status == "open")
        .order_by(Recommendation.ev.desc(), Recommendation.id)
    ).all()
    for rank, rec in enumerate(open_recs, start=1):
        if rec.rank != rank:
            rec.rank = rank


def _closing_quotes(
    session: Session, game_key: str, market: str, first_pitch: Any, sources: list[str]
) -> list[Quote]:
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
            QuoteRow.source.in_(sources),
        )
    )
    return list(latest_quotes([Quote(*r) for r in rows], first_pitch).values())


def capture_closing_lines(
    session: Session, now: Any, sources: list[str], sharp_books: frozenset[str], method: str
) -> int:
    """For open bets whose game has started: the devigged close, CLV, and status 'closed'."""
    due = session.execute(
        select(Recommendation, GameRow.commence_time)
        .join(GameRow, GameRow.game_key == Recommendation.game_key)
        .where(Recommendation.status == "open", GameRow.commence_time <= now)
    ).all()
    for rec, first_pitch in due:
        quotes = _closing_quotes(session, rec.game_key, rec.market, first_pitch, sources)
        line = market_line(
            Quote(rec.game_key, rec.market, rec.side, rec.book, rec.price, rec.point, first_pitch)
        )
        markets = group_book_markets(quotes).get((rec.game_key, rec.market, line), [])
        consensus = consensus_fair_probs(markets, sharp_books, method) if markets else None
        same_book = [
            q for q in quotes if q.book == rec.book and q.side == rec.side and q.point == rec.point
        ]
        rec.close_price = same_book[0].price if same_book else None
        if consensus is not None and rec.side in consensus.probs:
            rec.close_fair_prob = consensus.probs[rec.side]
            rec.clv = closing_line_value(american_to_decimal(rec.price), 1.0 / rec.close_fair_prob)
        rec.status = "closed"
    return len(due)


def recommend(src: Any) -> StageOutcome:
    """Turn this run's opportunities with a stake into recommendations; close started games."""
    bankroll = src.ctx.settings.bankroll_units
    sources = [s.name for s in src.ctx.sources]
    sharp = frozenset().union(*(getattr(s, "sharp_books", frozenset()) for s in src.ctx.sources))
    method = (
        getattr(getattr(src.ctx.strategies[0], "config", None), "devig_method", "multiplicative")
        if src.ctx.strategies
        else "multiplicative"
    )
    with src.sessions.begin() as session:
        opps = (
            session.scalars(
                select(OpportunityRow)
                .where(
                    OpportunityRow.run_id == src.run_id,
                    OpportunityRow.kelly_fraction > 0,
                    OpportunityRow.ev > 0,
                )
                .order_by(OpportunityRow.ev.desc())
            ).all()
            if "analyze" in src.results
            else session.scalars(
                select(OpportunityRow)
                .join(GameRow, GameRow.game_key == OpportunityRow.game_key)
                .where(
                    GameRow.commence_time > src.now,
                    OpportunityRow.kelly_fraction > 0,
                    OpportunityRow.ev > 0,
                )
                .order_by(OpportunityRow.detected_at)
            ).all()
        )
        existing = _existing(session, list(opps))
        created = sum(_upsert(session, existing, opp, bankroll) for opp in opps)
        session.flush()
        closed = capture_closing_lines(session, src.now, sources, sharp, method)
        _rerank(session)
    return StageOutcome(
        "succeeded",
        len(opps),
        created,
        detail={"created": created, "updated": len(opps) - created, "closed": closed},
    )
