"""The odds screen's read model on both databases: current and opening price per book side,
the main line, the best price per side, the sharp fair price, holds, the line history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Game
from app.pipelines.odds import american_to_decimal
from app.queries.odds import line_history, odds_boards
from tests.integration.bets_data import quote_row

NOW = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)
SHARP = frozenset({"pinnacle"})


@pytest.fixture
def market(db):
    early, late = NOW - timedelta(hours=3), NOW - timedelta(minutes=5)
    q = quote_row
    with db.session() as s:
        s.add_all(
            [
                Game(game_key="g1", home="SEA", away="BOS", commence_time=NOW + timedelta(hours=2)),
                Game(game_key="old", home="NYY", away="TOR", commence_time=NOW - timedelta(days=1)),
                q("g1", "home", "pinnacle", -125, early),
                q("g1", "away", "pinnacle", 115, early),
                q("g1", "home", "pinnacle", -130, late),
                q("g1", "away", "pinnacle", 120, late),
                q("g1", "home", "fanduel", -120, early),
                q("g1", "away", "fanduel", 100, early),
                q("g1", "home", "draftkings", -135, late),
                q("g1", "away", "draftkings", 125, late),
                q("g1", "over", "pinnacle", -105, late, 8.5, "totals"),
                q("g1", "under", "pinnacle", -105, late, 8.5, "totals"),
                q("g1", "over", "fanduel", -110, late, 8.5, "totals"),
                q("g1", "under", "fanduel", -110, late, 8.5, "totals"),
                q("g1", "over", "draftkings", -115, early, 8.5, "totals"),
                q("g1", "over", "draftkings", 100, late, 9.0, "totals"),
                q("g1", "under", "draftkings", -120, late, 9.0, "totals"),
                q("old", "home", "pinnacle", -110, early),
            ]
        )
    return db


def test_board_of_a_game(market) -> None:
    with market.session() as s:
        (board,) = odds_boards(s, NOW, SHARP)  # yesterday's game is not on the screen
    assert (board.away, board.home, board.books) == (
        "BOS",
        "SEA",
        ["draftkings", "fanduel", "pinnacle"],
    )
    ml = board.markets["h2h"]
    pin = ml.prices[("pinnacle", "home")]
    assert (pin.price, pin.open_price) == (-130, -125)  # now and at open
    assert ml.best["away"] == (125, ("draftkings",)) and ml.best["home"] == (-120, ("fanduel",))
    implied = [1 / american_to_decimal(-130), 1 / american_to_decimal(120)]
    assert ml.fair["home"] == pytest.approx(implied[0] / sum(implied))
    assert ml.consensus == "sharp consensus pinnacle"
    assert ml.holds["pinnacle"] == pytest.approx(1 - 1 / sum(implied))
    totals = board.markets["totals"]
    assert totals.line == 8.5  # two books there, one at 9
    dk = totals.prices[("draftkings", "over")]
    assert (dk.point, dk.open_point, dk.price, dk.open_price) == (9.0, 8.5, 100, -115)
    assert totals.best["over"] == (-105, ("pinnacle",))  # at the main line only
    assert set(totals.holds) == {"pinnacle", "fanduel", "draftkings"}  # each at its own line


def test_line_history_oldest_first(market) -> None:
    with market.session() as s:
        points = line_history(s, "g1", "h2h")
    assert [p.at for p in points] == sorted(p.at for p in points) and len(points) == 8
    assert {(p.book, p.side) for p in points} >= {("pinnacle", "home"), ("fanduel", "away")}
