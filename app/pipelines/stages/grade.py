"""grade: results -> win / loss / push / void under the house rules, units, and CLV per bet.

CLV never depends on the recommend stage having run between first pitch and grading: a bet
whose close was not captured (no recommend run in between, odds feed down from first pitch)
gets it here from the stored quotes. An arbitrage position is graded as one: its legs' profits
summed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from app.db import PreparedStatement, flushed_connection
from app.models import Game as GameRow
from app.models import Grade, Recommendation
from app.pipelines.context import StageOutcome
from app.pipelines.house_rules import ACTION, VOID, HouseRules
from app.pipelines.odds import american_to_decimal
from app.pipelines.stages.recommend import (
    ARBITRAGE,
    apply_close,
    devig_method,
    quote_sources,
    sharp_books_of,
)

log = logging.getLogger("dugout.pipelines.grade")
VOID_STATUSES = {"postponed", "cancelled"}
GRADABLE = ("final", "postponed", "cancelled", "suspended")


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


def _settle(rec: Recommendation, home: int, away: int) -> tuple[str, float]:
    """(result, profit) of a bet with action: one side, or every leg of an arbitrage."""
    if rec.kind != ARBITRAGE:
        result = bet_result(rec.market, rec.side, rec.point, home, away)
        return result, profit_units(result, rec.stake_units, rec.price)
    profit = sum(
        profit_units(
            bet_result(rec.market, leg.side, leg.point, home, away), leg.stake_units, leg.price
        )
        for leg in rec.legs
    )
    return ("win" if profit > 1e-9 else "loss" if profit < -1e-9 else "push"), profit


# Open or closed bets on games with a result known at :now (a replay sees no later one); the
# lists spelled out, as a prepared statement binds no expanding IN.
_GRADABLE = (
    or_(*(Recommendation.status == s for s in ("open", "closed"))),
    or_(*(GameRow.status == s for s in GRADABLE)),
    GameRow.updated_at <= bindparam("now"),
)
_GRADABLE_BETS = (
    select(Recommendation, GameRow)
    .join(GameRow, GameRow.game_key == Recommendation.game_key)
    .where(*_GRADABLE)
)
# Whether there is any: most runs find none, and this answers without loading an entity.
_ANY_GRADABLE = PreparedStatement(
    select(Recommendation.id)
    .join(GameRow, GameRow.game_key == Recommendation.game_key)
    .where(*_GRADABLE)
    .limit(1)
)


def grade_finished(session: Session, now: Any, src: Any = None) -> dict[str, int]:
    """Grade every open or closed recommendation whose game is settled under the house rules;
    with `src`, a bet whose close was never captured gets its CLV from stored quotes first."""
    rules: HouseRules = getattr(getattr(src, "ctx", None), "house_rules", None) or HouseRules()
    counts = {"win": 0, "loss": 0, "push": 0, "void": 0, "clv_at_grading": 0}
    if _ANY_GRADABLE.execute(flushed_connection(session), {"now": now}).first() is None:
        return counts
    rows = session.execute(_GRADABLE_BETS, {"now": now}).all()
    for rec, game in rows:
        verdict = rules.verdict(
            rec.market,
            game.status,
            game.home_score,
            game.away_score,
            game.innings,
            game.detailed_state,
            game.commence_time,
            now,
        )
        if verdict not in (ACTION, VOID):
            continue  # not settled yet: grade on a later run
        if rec.clv_at is None and src is not None and verdict == ACTION:
            apply_close(
                session,
                rec,
                game.commence_time,
                quote_sources(src),
                sharp_books_of(src),
                devig_method(src),
                now,
            )
            counts["clv_at_grading"] += 1
        if verdict == VOID:
            result, profit = "void", 0.0
        else:
            assert game.home_score is not None and game.away_score is not None
            result, profit = _settle(rec, game.home_score, game.away_score)
        session.add(
            Grade(
                recommendation_id=rec.id,
                strategy=rec.strategy,
                strategies=list(rec.strategies or [rec.strategy]),
                result=result,
                stake_units=rec.stake_units,
                profit_units=profit,
                clv=rec.clv if result != "void" else None,
                line_clv=rec.line_clv if result != "void" else None,
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
        counts = grade_finished(session, src.now, src)
    graded = sum(v for k, v in counts.items() if k != "clv_at_grading")
    detail: dict[str, Any] = dict(counts)
    if failed:
        detail["failed_sources"] = failed
    return StageOutcome("partial" if failed else "succeeded", graded, graded, detail=detail)
