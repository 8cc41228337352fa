"""What the strategies found: the live view (newest detection per bet) and detection latencies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import OpportunityRow
from app.pipelines.odds import decimal_to_american


@dataclass(frozen=True, slots=True)
class OpportunityView:
    """The newest detection of one (strategy, game, market, side)."""

    detected_at: datetime
    game: str
    market: str
    side: str
    point: float | None
    book: str
    price: int
    fair_price: int | None  # American odds of the fair probability
    ev: float  # expected value per unit staked
    kelly_fraction: float
    strategy: str
    latency_s: float
    explanation: str


def fair_american(p: float | None) -> int | None:
    """The fair price in American odds of probability `p`, or None outside (0, 1)."""
    if p is None or not 0 < p < 1:
        return None
    return decimal_to_american(1 / p)


def opportunities(
    session: Session,
    now: datetime,
    *,
    strategy: str | None = None,
    min_ev: float | None = None,
    book: str | None = None,
    window: timedelta = timedelta(hours=24),
    limit: int = 500,
) -> list[OpportunityView]:
    """The live view: the newest detection per (strategy, game, market, side), filtered."""
    o = OpportunityRow
    conditions = [o.detected_at >= now - window]
    if strategy:
        conditions.append(o.strategy == strategy)
    if min_ev is not None:
        conditions.append(o.ev >= min_ev)
    if book:
        conditions.append(o.book == book)
    newest = (
        select(
            o.id,
            func.row_number()
            .over(
                partition_by=(o.strategy, o.game_key, o.market, o.side),
                order_by=o.detected_at.desc(),
            )
            .label("rn"),
        )
        .where(*conditions)
        .subquery()
    )
    rows = session.scalars(
        select(o)
        .join(newest, newest.c.id == o.id)
        .where(newest.c.rn == 1)
        .order_by(o.detected_at.desc())
        .limit(limit)
    ).all()
    return [
        OpportunityView(
            r.detected_at,
            r.game_key,
            r.market,
            r.side,
            r.point,
            r.book,
            r.price,
            fair_american(r.fair_prob),
            r.ev,
            r.kelly_fraction,
            r.strategy,
            r.latency_ms / 1000,
            r.explanation,
        )
        for r in rows
    ]


def detection_latencies(session: Session, now: datetime, window: timedelta) -> list[float]:
    """Detection latencies in seconds over the window (for the histogram)."""
    rows = session.scalars(
        select(OpportunityRow.latency_ms)
        .where(OpportunityRow.detected_at >= now - window)
        .order_by(OpportunityRow.detected_at.desc())
        .limit(20000)
    )
    return [ms / 1000 for ms in rows]
