"""grade: final scores -> win / loss / push / void, units and CLV per recommendation."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Game as GameRow
from app.models import Grade, Recommendation
from app.pipelines.context import StageOutcome
from app.pipelines.odds import american_to_decimal

log = logging.getLogger("dugout.pipelines.grade")
VOID_STATUSES = {"postponed", "cancelled"}


def bet_result(market: str, side: str, point: float | None, home: int, away: int) -> str:
    """win / loss / push for one side of one market given the final score."""
    if market == "totals":
        if point is None:
            raise ValueError("a totals bet needs a point")
        margin = (home + away - point) * (1 if side == "over" else -1)
    else:
        diff = home - away if side == "home" else away - home
        margin = diff + ((point or 0.0) if market == "spreads" else 0.0)
    return "win" if margin > 0 else "loss" if margin < 0 else "push"


def profit_units(result: str, stake: float, price: int) -> float:
    """Profit of a settled bet in units: stake x (d - 1) for a win, -stake for a loss, else 0."""
    if result == "win":
        return stake * (american_to_decimal(price) - 1.0)
    return -stake if result == "loss" else 0.0


def grade_finished(session: Session, now: Any) -> dict[str, int]:
    """Grade every open or closed recommendation whose game is final or void."""
    rows = session.execute(
        select(Recommendation, GameRow)
        .join(GameRow, GameRow.game_key == Recommendation.game_key)
        .where(
            Recommendation.status.in_(("open", "closed")),
            GameRow.status.in_(("final", *VOID_STATUSES)),
        )
    ).all()
    counts = {"win": 0, "loss": 0, "push": 0, "void": 0}
    for rec, game in rows:
        if game.status in VOID_STATUSES:
            result = "void"
        elif game.home_score is None or game.away_score is None:
            continue  # final without a score yet: grade on a later run
        else:
            result = bet_result(rec.market, rec.side, rec.point, game.home_score, game.away_score)
        session.add(
            Grade(
                recommendation_id=rec.id,
                strategy=rec.strategy,
                result=result,
                stake_units=rec.stake_units,
                profit_units=profit_units(result, rec.stake_units, rec.price),
                clv=rec.clv if result != "void" else None,
                graded_at=now,
            )
        )
        rec.status = "graded"
        counts[result] += 1
    return counts


def grade(src: Any) -> StageOutcome:
    """Fetch scores when this run did not collect, then grade everything that can be graded."""
    failed: dict[str, str] = {}
    if "collect" not in src.results:
        from app.pipelines.stages.collect import collect_scores

        failed = collect_scores(src)
    with src.sessions.begin() as session:
        counts = grade_finished(session, src.now)
    graded = sum(counts.values())
    detail: dict[str, Any] = dict(counts)
    if failed:
        detail["failed_sources"] = failed
    return StageOutcome("partial" if failed else "succeeded", graded, graded, detail=detail)
