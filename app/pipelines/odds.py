"""Pure betting math: odds conversion, vig removal, value, staking, arbitrage and CLV.

Every function validates its inputs and raises ValueError with a sentence naming the bad value.
Prices are decimal odds unless a name says American. No I/O, no numpy: root-finding is a bisection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

DevigMethod = Literal["multiplicative", "additive", "power", "shin"]
DEVIG_METHODS: tuple[DevigMethod, ...] = ("multiplicative", "additive", "power", "shin")
MoveSize = Literal["none", "minor", "moderate", "significant", "major"]


class ArbitrageResult(NamedTuple):
    """Arbitrage check outcome: whether one exists, its profit, the stake share per outcome."""

    exists: bool
    profit: float  # 1/A - 1; negative when there is no arbitrage
    stakes: list[float]  # share of the total stake per outcome (sums to 1)


def _check_number(value: float, name: str) -> float:
    """Return value as float, refusing NaN, infinities and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_decimal(decimal: float, name: str = "decimal odds") -> float:
    """Return decimal odds as float, refusing anything at or below 1.0."""
    d = _check_number(decimal, name)
    if d <= 1.0:
        raise ValueError(f"{name} must be greater than 1.0, got {decimal!r}")
    return d


def _check_probability(p: float, name: str = "probability") -> float:
    """Return a probability as float, refusing values outside [0, 1]."""
    value = _check_number(p, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {p!r}")
    return value


def _check_market(decimal_odds: Sequence[float]) -> list[float]:
    """Validate the decimal odds of one market (at least two outcomes)."""
    if len(decimal_odds) < 2:
        raise ValueError(f"a market needs at least 2 outcomes, got {len(decimal_odds)}")
    return [_check_decimal(d, f"decimal odds #{i}") for i, d in enumerate(decimal_odds)]


def _round_half_away(x: float) -> int:
    """Round to the nearest integer, halves away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


# Decimal odds of the integer American prices converted so far (quotes' prices are integers
# from a small range; the strategies convert the same ones again at every tick).
_DECIMAL_OF_INT: dict[int, float] = {}


def american_to_decimal(american: float) -> float:
    """Convert American odds (<= -100 or >= +100) to decimal odds."""
    if type(american) is int:
        known = _DECIMAL_OF_INT.get(american)
        if known is not None:
            return known
    a = _check_number(american, "American odds")
    if -100.0 < a < 100.0:
        raise ValueError(f"American odds must be <= -100 or >= +100, got {american!r}")
    decimal = 1.0 + a / 100.0 if a > 0 else 1.0 + 100.0 / -a
    if type(american) is int and len(_DECIMAL_OF_INT) < 100_000:
        _DECIMAL_OF_INT[american] = decimal
    return decimal


def decimal_to_american(decimal: float) -> int:
    """Convert decimal odds to American odds rounded to an integer (2.0 is +100)."""
    d = _check_decimal(decimal)
    raw = 100.0 * (d - 1.0) if d >= 2.0 else -100.0 / (d - 1.0)
    rounded = _round_half_away(raw)
    # Just under 2.0 rounds to -100; just over, to +100: both mean even money, never -99/+99.
    return rounded if abs(rounded) >= 100 else (100 if rounded > 0 else -100)


def implied_probability(decimal: float) -> float:
    """Implied probability 1/d of decimal odds, vig included."""
    return 1.0 / _check_decimal(decimal)


def american_cents(american_from: float, american_to: float) -> float:
    """Size of a price move in "cents": distance on the American line where -100 and +100 coincide.

    On one side of 100 this is plain subtraction (-110 to -120 is 10 cents); across even money the
    distance goes through it (-105 to +105 is 10 cents), never the raw difference (210).
    """

    def position(a: float) -> float:
        """Place on the continuous American line; validates the price."""
        american_to_decimal(a)  # validates
        return a - 100.0 if a >= 100.0 else a + 100.0

    return abs(position(american_to) - position(american_from))


def classify_move(cents: float = 0.0, points: float = 0.0) -> MoveSize:
    """Name a line move per DOMAIN.md: by points when the point moved, else by cents."""
    cents, points = abs(_check_number(cents, "cents")), abs(_check_number(points, "points"))
    if points:
        size, (moderate, significant, major) = points, (0.5, 1.0, 2.0)
    elif cents:
        size, (moderate, significant, major) = cents, (5.0, 15.0, 25.0)
    else:
        return "none"
    if size < moderate:
        return "minor"
    if size < significant:
        return "moderate"
    return "significant" if size <= major else "major"


def overround(decimal_odds: Sequence[float]) -> float:
    """Overround S - 1 of one market, where S is the sum of implied probabilities."""
    return sum(1.0 / d for d in _check_market(decimal_odds)) - 1.0


def hold(decimal_odds: Sequence[float]) -> float:
    """Bookmaker hold 1 - 1/S of one market: the share of a balanced book the house keeps."""
    return 1.0 - 1.0 / (1.0 + overround(decimal_odds))


def devig_multiplicative(decimal_odds: Sequence[float]) -> list[float]:
    """Fair probabilities p_i = pi_i / S (proportional vig removal)."""
    implied = [1.0 / d for d in _check_market(decimal_odds)]
    total = sum(implied)
    return [pi / total for pi in implied]


def devig_additive(decimal_odds: Sequence[float]) -> tuple[list[float], bool]:
    """Fair probabilities p_i = pi_i - (S-1)/n; negatives clipped to 0 and renormalised.

    Returns (probabilities, clipped) where clipped tells the caller a longshot went negative.
    """
    implied = [1.0 / d for d in _check_market(decimal_odds)]
    share = (sum(implied) - 1.0) / len(implied)
    raw = [pi - share for pi in implied]
    clipped = any(p < 0.0 for p in raw)
    if not clipped:
        return raw, False
    kept = [max(p, 0.0) for p in raw]
    total = sum(kept)
    return [p / total for p in kept], True


def _bisect(f: Callable[[float], float], lo: float, hi: float, tol: float = 1e-13) -> float:
    """Root of a continuous f on [lo, hi] where f(lo) and f(hi) have opposite signs."""
    f_lo = f(lo)
    if f_lo == 0.0:
        return lo
    if f_lo * f(hi) > 0.0:
        raise ValueError(f"no sign change between {lo} and {hi}")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        if f_mid == 0.0 or hi - lo < tol:
            return mid
        if (f_mid > 0.0) == (f_lo > 0.0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def devig_power(decimal_odds: Sequence[float]) -> tuple[list[float], float]:
    """Fair probabilities p_i = pi_i^k with k solved so they sum to 1; returns (probs, k)."""
    implied = [1.0 / d for d in _check_market(decimal_odds)]

    def excess(k: float) -> float:
        """How far the powered probabilities overshoot 1."""
        return sum(math.pow(pi, k) for pi in implied) - 1.0

    # sum(pi^k) falls from n (k=0) towards 0: widen the bracket around k=1 until it changes sign.
    lo, hi = 1.0, 1.0
    while excess(hi) > 0.0:
        hi *= 2.0
    while excess(lo) < 0.0:
        lo /= 2.0
    k = _bisect(excess, lo, hi)
    probs = [math.pow(pi, k) for pi in implied]
    total = sum(probs)
    return [p / total for p in probs], k


def _shin_probs(implied: Sequence[float], total: float, z: float) -> list[float]:
    """Shin's fair probabilities for a given insider share z."""
    return [
        (math.sqrt(z * z + 4.0 * (1.0 - z) * pi * pi / total) - z) / (2.0 * (1.0 - z))
        for pi in implied
    ]


def devig_shin(decimal_odds: Sequence[float]) -> tuple[list[float], float]:
    """Shin (1992, 1993) fair probabilities with z solved so they sum to 1; returns (probs, z).

    An underround market (S < 1, e.g. a consensus of best prices) gets z < 0, which the formula
    still handles; a normal book has 0 <= z < 1.
    """
    implied = [1.0 / d for d in _check_market(decimal_odds)]
    total = sum(implied)

    def excess(z: float) -> float:
        """How far Shin's probabilities overshoot 1 for insider share z."""
        return sum(_shin_probs(implied, total, z)) - 1.0

    # The sum is sqrt(S) at z=0 and falls as z grows: search upwards or downwards from 0.
    if excess(0.0) >= 0.0:
        lo, hi = 0.0, 0.5
        while excess(hi) > 0.0:
            hi = 0.5 * (hi + 1.0)
    else:
        lo, hi = -0.5, 0.0
        while excess(lo) < 0.0:
            lo *= 2.0
    z = _bisect(excess, lo, hi)
    probs = _shin_probs(implied, total, z)
    norm = sum(probs)
    return [p / norm for p in probs], z


def devig(method: str, decimal_odds: Sequence[float]) -> list[float]:
    """Fair probabilities of one market by the named method (see DEVIG_METHODS)."""
    if method == "multiplicative":
        return devig_multiplicative(decimal_odds)
    if method == "additive":
        return devig_additive(decimal_odds)[0]
    if method == "power":
        return devig_power(decimal_odds)[0]
    if method == "shin":
        return devig_shin(decimal_odds)[0]
    raise ValueError(f"unknown devig method {method!r}; choose one of {', '.join(DEVIG_METHODS)}")


def fair_decimal(p: float) -> float:
    """Fair (no-vig) decimal odds 1/p of a probability."""
    value = _check_probability(p)
    if value == 0.0:
        raise ValueError("probability must be above 0 to have a fair price")
    return 1.0 / value


def expected_value(p: float, decimal: float) -> float:
    """Expected profit per unit staked, p*d - 1, at decimal odds d with win probability p."""
    return _check_probability(p) * _check_decimal(decimal) - 1.0


def kelly_fraction(p: float, decimal: float) -> float:
    """Full Kelly fraction (p*d - 1)/(d - 1); negative when the bet has negative value."""
    d = _check_decimal(decimal)
    return (_check_probability(p) * d - 1.0) / (d - 1.0)


def fractional_kelly(p: float, decimal: float, fraction: float = 0.25, cap: float = 0.02) -> float:
    """Fraction of bankroll to stake: fraction x full Kelly, capped, never negative."""
    lam = _check_number(fraction, "Kelly fraction")
    limit = _check_number(cap, "Kelly cap")
    if not 0.0 < lam <= 1.0:
        raise ValueError(f"Kelly fraction must be in (0, 1], got {fraction!r}")
    if not 0.0 <= limit <= 1.0:
        raise ValueError(f"Kelly cap must be in [0, 1], got {cap!r}")
    return min(max(lam * kelly_fraction(p, decimal), 0.0), limit)


def arbitrage(best_decimal_odds: Sequence[float]) -> ArbitrageResult:
    """Check the best price per outcome for an arbitrage: A = sum(1/d) < 1, profit 1/A - 1."""
    inverse = [1.0 / d for d in _check_market(best_decimal_odds)]
    total = sum(inverse)
    return ArbitrageResult(total < 1.0, 1.0 / total - 1.0, [x / total for x in inverse])


def closing_line_value(decimal_bet: float, decimal_close_fair: float) -> float:
    """Closing line value d_bet / d_close_fair - 1 against the devigged closing price."""
    return (
        _check_decimal(decimal_bet, "bet odds")
        / _check_decimal(decimal_close_fair, "closing fair odds")
        - 1.0
    )
