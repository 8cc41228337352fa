"""House rules: action, void or wait by market, status, innings played and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.pipelines.house_rules import ACTION, VOID, WAIT, HouseRules
from app.pipelines.sources.mlb_format import innings_played

PITCH = datetime(2024, 7, 13, 23, 5, tzinfo=UTC)
LATER = PITCH + timedelta(hours=5)


@pytest.mark.parametrize(
    ("market", "status", "home", "away", "innings", "detail", "verdict"),
    [
        ("h2h", "final", 3, 1, 6.0, "Completed Early: Rain", ACTION),
        ("totals", "final", 3, 1, 6.0, "Completed Early: Rain", VOID),
        ("spreads", "final", 3, 1, 6.0, "Completed Early: Rain", VOID),
        ("h2h", "final", 3, 1, 4.5, "Completed Early: Rain", ACTION),  # home ahead after 4.5
        ("h2h", "final", 1, 3, 4.5, "Completed Early: Rain", VOID),
        ("totals", "final", 5, 4, 8.5, "Final", ACTION),  # home ahead, no bottom of the 9th
        ("totals", "final", 4, 5, 8.5, "Final", VOID),
        ("totals", "final", 4, 5, 10.0, "Final", ACTION),
        ("totals", "final", 4, 5, None, "Final", ACTION),  # no linescore: a full game
        ("totals", "final", 4, 5, None, "Completed Early", VOID),
        ("h2h", "postponed", None, None, None, "Postponed", VOID),
        ("h2h", "cancelled", None, None, None, "Cancelled", VOID),
        ("h2h", "live", 1, 0, 3.0, "In Progress", WAIT),
    ],
)
def test_verdicts(market, status, home, away, innings, detail, verdict) -> None:
    assert (
        HouseRules().verdict(market, status, home, away, innings, detail, PITCH, LATER) == verdict
    )


def test_a_suspended_game_waits_then_voids_when_not_resumed() -> None:
    rules = HouseRules(suspended_void_after=timedelta(hours=48))
    args = ("h2h", "suspended", 2, 1, 6.5, "Suspended: Rain", PITCH)
    assert rules.verdict(*args, PITCH + timedelta(hours=47)) == WAIT
    assert rules.verdict(*args, PITCH + timedelta(hours=48)) == VOID


def test_configurable_rules() -> None:
    strict = HouseRules(moneyline_innings=9.0, moneyline_innings_home_ahead=8.5)
    assert strict.verdict("h2h", "final", 3, 1, 6.0, "Completed Early", PITCH, LATER) == VOID


def test_innings_played_from_a_linescore() -> None:
    def inning(away: int, home: int | None) -> dict:
        return {"away": {"runs": away}, "home": {} if home is None else {"runs": home}}

    assert innings_played({"innings": [inning(0, 0)] * 8 + [inning(1, None)]}) == 8.5
    assert innings_played({"innings": [inning(0, 1)] * 6}) == 6.0
    assert innings_played(None) is None and innings_played({"currentInning": 3}) is None
