"""House rules for grading: when a bet has action, configurable, with the common US default.

DOMAIN.md's default: moneyline has action once the game is official (5 innings, 4.5 with the
home team ahead); run lines and totals need 9 innings (8.5 with the home team ahead), else they
are void; postponed, cancelled and suspended-not-resumed games are void. Refinements made here:
a game shortened by weather ("Completed Early") is judged by the innings it went; a final whose
innings are unknown (a feed without a linescore) is taken as a full game unless its status
says it ended early; a suspended game is void once it has not resumed within
`suspended_void_after`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

VOID = "void"
ACTION = "action"
WAIT = "wait"


@dataclass(frozen=True, slots=True)
class HouseRules:
    """Innings a market needs to have action, and how long a suspended game may wait."""

    moneyline_innings: float = 5.0
    moneyline_innings_home_ahead: float = 4.5
    line_innings: float = 9.0  # run lines and totals
    line_innings_home_ahead: float = 8.5
    suspended_void_after: timedelta = timedelta(hours=48)

    def verdict(
        self,
        market: str,
        status: str,
        home: int | None,
        away: int | None,
        innings: float | None,
        detail: str | None,
        first_pitch: datetime,
        now: datetime,
    ) -> str:
        """ACTION (grade on the score), VOID, or WAIT (not settled yet)."""
        if status in ("postponed", "cancelled"):
            return VOID
        if status == "suspended":
            return VOID if now - first_pitch >= self.suspended_void_after else WAIT
        if status != "final" or home is None or away is None:
            return WAIT
        played = innings
        if played is None:
            early = (detail or "").casefold().startswith("completed early")
            if not early:
                return ACTION  # a final with no linescore: a full game
            return ACTION if market == "h2h" else VOID  # official, shortened, innings unknown
        need, need_ahead = (
            (self.moneyline_innings, self.moneyline_innings_home_ahead)
            if market == "h2h"
            else (self.line_innings, self.line_innings_home_ahead)
        )
        if played >= need or (home > away and played >= need_ahead):
            return ACTION
        return VOID
