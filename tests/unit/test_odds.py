"""Betting math against DOMAIN.md's test vectors, plus property tests of the invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.pipelines.odds import (
    DEVIG_METHODS,
    american_cents,
    american_to_decimal,
    arbitrage,
    classify_move,
    closing_line_value,
    decimal_to_american,
    devig,
    devig_additive,
    devig_multiplicative,
    devig_power,
    devig_shin,
    expected_value,
    fair_decimal,
    fractional_kelly,
    hold,
    implied_probability,
    kelly_fraction,
    overround,
)

VECTOR = [1.5, 2.74]


def assert_6dp(actual: list[float] | float, expected: list[float] | float) -> None:
    """Equal once rounded to 6 decimals, as DOMAIN.md states its vectors."""
    if isinstance(actual, list):
        assert isinstance(expected, list)
        assert [round(a, 6) for a in actual] == expected
    else:
        assert round(actual, 6) == expected


# --- DOMAIN.md test vectors -------------------------------------------------------------------


def test_vector_sum_and_hold() -> None:
    assert_6dp(1.0 + overround(VECTOR), 1.031630)
    assert round(hold(VECTOR), 5) == 0.03066


def test_vector_multiplicative() -> None:
    assert_6dp(devig_multiplicative(VECTOR), [0.646226, 0.353774])


def test_vector_additive() -> None:
    probs, clipped = devig_additive(VECTOR)
    assert_6dp(probs, [0.650852, 0.349148])
    assert clipped is False


def test_vector_shin_two_way() -> None:
    probs, z = devig_shin(VECTOR)
    assert_6dp(probs, [0.650852, 0.349148])
    assert_6dp(z, 0.031727)


def test_vector_power() -> None:
    probs, k = devig_power(VECTOR)
    assert_6dp(probs, [0.653152, 0.346848])
    assert round(k, 5) == 1.05051


def test_vector_shin_three_way() -> None:
    probs, z = devig_shin([2.6, 2.4, 4.3])
    assert_6dp(probs, [0.372994, 0.404779, 0.222227])
    assert_6dp(z, 0.016943)


def test_vector_minus150_plus130_multiplicative_and_fair_american() -> None:
    probs = devig_multiplicative([american_to_decimal(-150), american_to_decimal(130)])
    assert [round(p, 5) for p in probs] == [0.57983, 0.42017]
    assert [decimal_to_american(fair_decimal(p)) for p in probs] == [-138, 138]


def test_arbitrage_plus105_both_sides() -> None:
    result = arbitrage([american_to_decimal(105), american_to_decimal(105)])
    assert result.exists is True
    assert_6dp(result.profit, 0.025)
    assert_6dp(result.stakes, [0.5, 0.5])


def test_ev_and_kelly_at_plus110() -> None:
    d = american_to_decimal(110)
    assert_6dp(expected_value(0.5, d), 0.05)
    assert_6dp(kelly_fraction(0.5, d), 0.045455)
    assert_6dp(fractional_kelly(0.5, d), 0.011364)  # quarter Kelly, under the 2% cap


def test_clv_plus140_against_plus125() -> None:
    assert_6dp(closing_line_value(american_to_decimal(140), american_to_decimal(125)), 0.066667)


def test_break_even_at_minus110() -> None:
    assert_6dp(implied_probability(american_to_decimal(-110)), 0.52381)


# --- conversions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("american", "decimal"),
    [(-110, 1.909091), (135, 2.35), (-200, 1.5), (100, 2.0), (-100, 2.0), (250, 3.5)],
)
def test_american_to_decimal(american: int, decimal: float) -> None:
    assert_6dp(american_to_decimal(american), decimal)


@pytest.mark.parametrize(
    ("decimal", "american"),
    [(1.909091, -110), (2.35, 135), (1.5, -200), (2.0, 100), (1.9999, -100), (2.004, 100)],
)
def test_decimal_to_american_rounds_to_int(decimal: float, american: int) -> None:
    result = decimal_to_american(decimal)
    assert result == american
    assert isinstance(result, int)


@pytest.mark.parametrize("bad", [-99, 99, 0, 50, -100.5 + 1, math.nan, math.inf, "110", True])
def test_american_to_decimal_rejects_invalid(bad: object) -> None:
    with pytest.raises(ValueError, match="American odds"):
        american_to_decimal(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.0, 0.5, -2.0, math.nan, math.inf])
def test_decimal_inputs_reject_invalid(bad: float) -> None:
    with pytest.raises(ValueError, match=r"decimal odds|greater than 1|finite"):
        decimal_to_american(bad)
    with pytest.raises(ValueError):
        implied_probability(bad)
    with pytest.raises(ValueError):
        devig_multiplicative([bad, 2.0])
    with pytest.raises(ValueError):
        expected_value(0.5, bad)


@pytest.mark.parametrize("bad_p", [-0.1, 1.1, math.nan])
def test_probability_inputs_reject_invalid(bad_p: float) -> None:
    with pytest.raises(ValueError, match="probability"):
        expected_value(bad_p, 2.0)
    with pytest.raises(ValueError, match="probability"):
        fair_decimal(bad_p)


def test_markets_need_two_outcomes_and_a_known_method() -> None:
    with pytest.raises(ValueError, match="at least 2 outcomes"):
        devig_shin([1.5])
    with pytest.raises(ValueError, match="unknown devig method 'magic'"):
        devig("magic", VECTOR)
    with pytest.raises(ValueError, match="above 0"):
        fair_decimal(0.0)


# --- value, staking, arbitrage ------------------------------------------------------------------


def test_fractional_kelly_is_capped_and_never_negative() -> None:
    assert fractional_kelly(0.40, 2.0) == 0.0  # negative edge: no bet
    assert kelly_fraction(0.40, 2.0) < 0.0  # full Kelly itself says "bet the other side"
    assert fractional_kelly(0.60, 2.1) == 0.02  # 0.25 x 23.6% capped at 2%
    assert_6dp(fractional_kelly(0.60, 2.1, fraction=0.5, cap=1.0), 0.118182)
    with pytest.raises(ValueError, match="Kelly fraction"):
        fractional_kelly(0.5, 2.1, fraction=0.0)


def test_arbitrage_absent_and_stakes_equalise_payout() -> None:
    no_arb = arbitrage([american_to_decimal(-110), american_to_decimal(-110)])
    assert no_arb.exists is False
    assert no_arb.profit < 0
    odds = [2.2, 2.0]
    result = arbitrage(odds)
    assert result.exists
    assert_6dp(result.profit, 0.047619)
    payouts = [s * d for s, d in zip(result.stakes, odds, strict=True)]
    assert payouts[0] == pytest.approx(payouts[1]) == pytest.approx(1 + result.profit)


def test_additive_clips_negative_longshots_and_reports_it() -> None:
    probs, clipped = devig_additive([1.2, 5.0, 200.0])
    assert clipped is True
    assert probs[2] == 0.0
    assert sum(probs) == pytest.approx(1.0)


def test_dispatcher_matches_each_method() -> None:
    assert devig("multiplicative", VECTOR) == devig_multiplicative(VECTOR)
    assert devig("additive", VECTOR) == devig_additive(VECTOR)[0]
    assert devig("power", VECTOR) == devig_power(VECTOR)[0]
    assert devig("shin", VECTOR) == devig_shin(VECTOR)[0]


# --- line moves ---------------------------------------------------------------------------------


def test_cents_go_through_even_money_not_across_it() -> None:
    assert american_cents(-110, -120) == 10
    assert american_cents(-105, 105) == 10  # raw subtraction would say 210
    assert american_cents(120, 115) == 5
    assert american_cents(-100, 100) == 0


@pytest.mark.parametrize(
    ("cents", "points", "size"),
    [
        (0, 0, "none"),
        (4.9, 0, "minor"),
        (5, 0, "moderate"),
        (14.9, 0, "moderate"),
        (15, 0, "significant"),
        (25, 0, "significant"),
        (26, 0, "major"),
        (0, 0.5, "moderate"),
        (30, 0.25, "minor"),  # a point move is sized by points
        (0, -1.0, "significant"),
        (0, 2.5, "major"),
    ],
)
def test_classify_move(cents: float, points: float, size: str) -> None:
    assert classify_move(cents, points) == size


# --- properties ---------------------------------------------------------------------------------

AMERICAN = st.one_of(st.integers(-100_000, -101), st.integers(100, 100_000))


@given(AMERICAN)
def test_american_decimal_round_trip(american: int) -> None:
    assert decimal_to_american(american_to_decimal(american)) == american


@given(AMERICAN, AMERICAN)
def test_american_to_decimal_is_monotonic(a: int, b: int) -> None:
    if a < b:
        assert american_to_decimal(a) < american_to_decimal(b)


def _book(fair: list[float], margins: list[float]) -> list[float]:
    """Decimal odds a book would post: fair probabilities shaded up by per-outcome margins."""
    return [1.0 / (p * (1.0 + m)) for p, m in zip(fair, margins, strict=True)]


@st.composite
def realistic_market(draw: st.DrawFn) -> list[float]:
    """A 2- or 3-way market: outcomes about 5%-90% likely, margins -2% (a consensus) to +10%."""
    n = draw(st.sampled_from([2, 3]))
    weights = draw(st.lists(st.floats(0.12, 1.0), min_size=n, max_size=n))
    fair = [w / sum(weights) for w in weights]
    margins = draw(st.lists(st.floats(-0.02, 0.10), min_size=n, max_size=n))
    return _book(fair, margins)


@pytest.mark.parametrize("method", DEVIG_METHODS)
@given(odds=realistic_market())
def test_devig_sums_to_one_within_unit_interval(method: str, odds: list[float]) -> None:
    probs = devig(method, odds)
    assert len(probs) == len(odds)
    assert sum(probs) == pytest.approx(1.0, abs=1e-9)
    assert all(0.0 <= p <= 1.0 for p in probs)


@pytest.mark.parametrize("method", ["multiplicative", "power", "shin"])
@given(odds=realistic_market())
def test_devig_keeps_the_favourite_first(method: str, odds: list[float]) -> None:
    probs = devig(method, odds)
    favourite = min(range(len(odds)), key=lambda i: odds[i])
    assert probs[favourite] == pytest.approx(max(probs))


@given(st.floats(0.05, 0.95))
def test_devig_of_a_no_vig_market_is_its_implied_probabilities(p: float) -> None:
    odds = [1.0 / p, 1.0 / (1.0 - p)]
    for method in DEVIG_METHODS:
        assert devig(method, odds) == pytest.approx([p, 1.0 - p], abs=1e-9)
