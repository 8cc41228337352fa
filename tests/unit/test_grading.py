"""Grading rules: moneyline, run line and totals, pushes, voids, profit in units."""

from __future__ import annotations

import pytest

from app.pipelines.stages.grade import bet_result, profit_units


@pytest.mark.parametrize(
    ("market", "side", "point", "home", "away", "expected"),
    [
        ("h2h", "home", None, 5, 3, "win"),
        ("h2h", "away", None, 5, 3, "loss"),
        ("spreads", "home", -1.5, 5, 3, "win"),  # home -1.5 wins by 2
        ("spreads", "home", -1.5, 4, 3, "loss"),  # wins by 1: does not cover
        ("spreads", "away", 1.5, 4, 3, "win"),  # away +1.5 loses by 1: covers
        ("spreads", "away", 1.5, 6, 3, "loss"),
        ("spreads", "home", -1.0, 4, 3, "push"),
        ("totals", "over", 8.5, 5, 4, "win"),
        ("totals", "under", 8.5, 5, 4, "loss"),
        ("totals", "over", 9.0, 5, 4, "push"),
        ("totals", "under", 9.5, 5, 4, "win"),
    ],
)
def test_bet_result(market, side, point, home, away, expected) -> None:
    assert bet_result(market, side, point, home, away) == expected


def test_profit_in_units() -> None:
    assert profit_units("win", 2.0, 150) == pytest.approx(3.0)
    assert profit_units("win", 1.1, -110) == pytest.approx(1.0)
    assert profit_units("loss", 2.0, 150) == -2.0
    assert profit_units("push", 2.0, 150) == 0.0
    assert profit_units("void", 2.0, -200) == 0.0


def test_totals_without_point_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs a point"):
        bet_result("totals", "over", None, 1, 2)
