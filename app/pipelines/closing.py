"""The closing line and closing line value (CLV) of a bet, from quotes as stored.

Refines DOMAIN.md's definitions, as issue 13 asks:
- A book's close on a market is its LAST quote on that market at or before first pitch,
  whatever the point: a line the book withdrew earlier (it moved 8.5 -> 9.0) is never its
  close, and nothing stamped after first pitch is.
- The fair close is the sharp consensus of those closes. When sharp books quote the market at
  close, only they count; price CLV (`d_bet / d_fair - 1`) is given at the bet's own point
  only where a sharp book still offered that point, else it is None. When no sharp book quotes
  the market at all, the consensus falls back as the strategies' does (lowest hold, median).
- Line CLV is in points against the sharp closing point (the side's point most sharp closes
  offer; all books' when no sharp one quotes it): Over 8.5 against a 9.0 close is +0.5, Under
  9.0 against 8.5 is +0.5, a run line -1.5 against a -2.5 close is +1.0. None for moneylines.
- `basis` says which figures exist: "price", "line" or "price+line".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from app.pipelines.market import (
    consensus_fair_probs,
    current_quotes,
    group_book_markets,
    market_line,
)
from app.pipelines.odds import american_to_decimal, closing_line_value
from app.pipelines.types import Quote


@dataclass(frozen=True, slots=True)
class Close:
    """A bet's close: its book's last quote, the sharp point and fair price, both CLVs."""

    book_price: int | None
    book_point: float | None
    close_point: float | None
    fair_prob: float | None
    price_clv: float | None
    line_clv: float | None
    consensus: str | None  # e.g. "sharp consensus circa, pinnacle"

    @property
    def basis(self) -> str | None:
        """Which CLV figures exist: price, line, price+line (None: neither)."""
        parts = [
            name
            for name, v in (("price", self.price_clv), ("line", self.line_clv))
            if v is not None
        ]
        return "+".join(parts) or None


def closing_quotes(quotes: Iterable[Quote], first_pitch: datetime) -> list[Quote]:
    """Each book side's last quote at or before first pitch, whatever its point."""
    return list(current_quotes(quotes, first_pitch).values())


def line_value(
    market: str, side: str, bet_point: float | None, close: float | None
) -> float | None:
    """Line CLV in points, positive when the bet's number beats the closing number."""
    if market == "h2h" or bet_point is None or close is None:
        return None
    return (close - bet_point if side == "over" else bet_point - close) + 0.0


def close_of_bet(
    quotes: Iterable[Quote],
    first_pitch: datetime,
    bet: Quote,
    sharp_books: frozenset[str],
    method: str = "multiplicative",
) -> Close:
    """The close of `bet` (its game, market, side, book, price and point) from `quotes`."""
    closes = [
        q
        for q in closing_quotes(
            (q for q in quotes if q.game_key == bet.game_key and q.market == bet.market),
            first_pitch,
        )
    ]
    own = next((q for q in closes if q.book == bet.book and q.side == bet.side), None)
    sharp_closes = [q for q in closes if q.book in sharp_books]
    markets = group_book_markets(closes).get((bet.game_key, bet.market, market_line(bet)), [])
    if sharp_closes:
        markets = [m for m in markets if m.book in sharp_books]
        consensus = consensus_fair_probs(markets, sharp_books, method) if markets else None
    else:
        consensus = consensus_fair_probs(markets, frozenset(), method) if markets else None
    fair = consensus.probs.get(bet.side) if consensus else None
    price_clv = None
    if fair:
        price_clv = closing_line_value(american_to_decimal(bet.price), 1.0 / fair)
    point = _closing_point(sharp_closes or closes, bet.side)
    return Close(
        own.price if own else None,
        own.point if own else None,
        point,
        fair,
        price_clv,
        line_value(bet.market, bet.side, bet.point, point),
        consensus.describe() if consensus else None,
    )


def _closing_point(closes: list[Quote], side: str) -> float | None:
    """The side's point most of these closes offer (ties to the lower), None for none."""
    counts = Counter(q.point for q in closes if q.side == side and q.point is not None)
    if not counts:
        return None
    return min(counts, key=lambda p: (-counts[p], p))
