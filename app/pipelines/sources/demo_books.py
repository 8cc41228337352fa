"""The demo's sportsbooks (how each prices and how fast it reacts) and probability <-> American."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DemoBook:
    """One simulated book: margin, price granularity and how quickly it follows the market."""

    key: str  # The Odds API bookmaker key
    title: str
    sharp: bool
    vig: float  # overround of a two-way market, e.g. 0.045 = -110/-110 territory
    step: int  # price granularity in cents: most quote every cent, a few offshore books in 5s
    refresh_s: int  # mean seconds between routine re-quotes
    lag_s: tuple[int, int]  # seconds after a market move before this book follows it
    open_delay_s: tuple[int, int]  # seconds after the market opens before this book posts


BASE_BOOKS: tuple[DemoBook, ...] = (
    DemoBook("pinnacle", "Pinnacle", True, 0.025, 1, 300, (5, 40), (0, 0)),
    DemoBook("circa", "Circa Sports", True, 0.022, 1, 420, (10, 60), (300, 1800)),
    DemoBook("draftkings", "DraftKings", False, 0.045, 1, 900, (30, 150), (600, 3000)),
    DemoBook("fanduel", "FanDuel", False, 0.042, 1, 780, (30, 150), (600, 3000)),
    DemoBook("betmgm", "BetMGM", False, 0.048, 1, 1080, (45, 200), (900, 3600)),
    DemoBook("williamhill_us", "Caesars", False, 0.047, 1, 1020, (45, 200), (900, 3600)),
    DemoBook("pointsbetus", "PointsBet (US)", False, 0.046, 1, 1200, (60, 240), (900, 3600)),
    DemoBook("betrivers", "BetRivers", False, 0.05, 1, 1200, (60, 240), (900, 3600)),
    DemoBook("bovada", "Bovada", False, 0.05, 5, 1500, (60, 240), (1200, 3600)),
    DemoBook("betonlineag", "BetOnline.ag", False, 0.035, 1, 600, (20, 120), (300, 2400)),
)
EXTRA_BOOKS: tuple[DemoBook, ...] = (
    DemoBook("lowvig", "LowVig.ag", False, 0.03, 1, 600, (20, 120), (300, 2400)),
    DemoBook("mybookieag", "MyBookie.ag", False, 0.055, 5, 1500, (60, 240), (1200, 3600)),
    DemoBook("betus", "BetUS", False, 0.055, 1, 1500, (60, 240), (1200, 3600)),
    DemoBook("espnbet", "ESPN BET", False, 0.046, 1, 1080, (45, 200), (900, 3600)),
)


def books_for(scale: int) -> tuple[DemoBook, ...]:
    """Ten books for a normal day; four more retail books when the day is scaled up."""
    return BASE_BOOKS if scale <= 1 else BASE_BOOKS + EXTRA_BOOKS


def american(probability: float, step: int = 1) -> int:
    """American price for an implied probability, rounded to `step` cents (never inside +/-100)."""
    p = min(max(probability, 0.02), 0.98)
    if p >= 0.5:
        return -max(100, step * round(100 * p / (1 - p) / step))
    return max(100, step * round(100 * (1 - p) / p / step))


def american_at_most(probability: float, step: int = 1) -> int:
    """The shortest American price (multiple of `step`) whose implied probability is <= `p`."""
    p = min(max(probability, 0.02), 0.98)
    if p > 0.5:
        return -max(100, step * math.floor(100 * p / (1 - p) / step))
    return max(100, step * math.ceil(100 * (1 - p) / p / step))


def implied(price: int) -> float:
    """Implied probability of an American price."""
    return 100 / (price + 100) if price > 0 else -price / (100 - price)


def two_way(probability: float, vig: float, step: int) -> tuple[int, int]:
    """Prices for side A (fair probability `probability`) and side B, margin spread evenly."""
    return american(probability * (1 + vig), step), american((1 - probability) * (1 + vig), step)
