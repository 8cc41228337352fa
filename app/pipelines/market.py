"""Views over a MarketState: current quotes, book markets, line moves and consensus fair prices.

Vocabulary:
- a book side is (game_key, market, side, book); its series is that book's quotes in time order.
- a line is the number that identifies one market's point: None for h2h, the HOME point for
  spreads (the away point is its negation), the shared point for totals.
- a book market is both sides of one market at one book at the same line.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal

from app.pipelines.odds import (
    MoveSize,
    american_cents,
    american_to_decimal,
    classify_move,
    devig,
    hold,
)
from app.pipelines.types import SIDES_BY_MARKET, Game, MarketState, Quote, Split

quote_time = attrgetter("last_update")  # a quote's time, as a C-level sort or bisect key
_book_side = attrgetter("game_key", "market", "side", "book")  # a BookSideKey, built in C

BookSideKey = tuple[str, str, str, str]  # game_key, market, side, book
PointQuoteKey = tuple[str, str, str, str, float | None]  # book side + the quote's own point
MarketKey = tuple[str, str, float | None]  # game_key, market, line
SplitKey = tuple[str, str, str]  # game_key, market, side
ConsensusFallback = Literal["lowest_hold", "median"]
ConsensusSource = Literal["sharp", "lowest_hold", "median"]


def market_line(quote: Quote) -> float | None:
    """The line that pairs a quote with the other side of its market (see module docstring)."""
    if quote.point is None or quote.market == "h2h":
        return None
    if quote.market == "spreads" and quote.side == "away":
        return -quote.point + 0.0  # + 0.0 turns -0.0 into 0.0 so pick'em lines pair up
    return quote.point


def book_side_key(quote: Quote) -> BookSideKey:
    """The (game_key, market, side, book) a quote belongs to."""
    return (quote.game_key, quote.market, quote.side, quote.book)


def latest_quotes(
    quotes: Iterable[Quote], now: datetime | None = None
) -> dict[PointQuoteKey, Quote]:
    """Newest quote per (game_key, market, side, book, point), ignoring quotes after `now`."""
    latest: dict[PointQuoteKey, Quote] = {}
    for q in quotes:
        if now is not None and q.last_update > now:
            continue
        key = (*book_side_key(q), q.point)
        seen = latest.get(key)
        if seen is None or q.last_update >= seen.last_update:
            latest[key] = q
    return latest


def current_quotes(
    quotes: Iterable[Quote], now: datetime | None = None
) -> dict[BookSideKey, Quote]:
    """Each book side's newest quote whatever its point: the line the book offers now."""
    current: dict[BookSideKey, Quote] = {}
    for q in quotes:
        if now is not None and q.last_update > now:
            continue
        key = book_side_key(q)
        seen = current.get(key)
        if seen is None or q.last_update >= seen.last_update:
            current[key] = q
    return current


@dataclass(frozen=True, slots=True)
class BookMarket:
    """Both sides of one market at one book at one line, in SIDES_BY_MARKET order."""

    game_key: str
    market: str
    line: float | None
    book: str
    quotes: tuple[Quote, ...]

    @property
    def sides(self) -> tuple[str, ...]:
        """Side names in the order of `quotes`."""
        return tuple(q.side for q in self.quotes)

    @property
    def decimal_odds(self) -> list[float]:
        """Decimal odds per side."""
        return [american_to_decimal(q.price) for q in self.quotes]

    @property
    def hold(self) -> float:
        """This book's hold on this market."""
        return hold(self.decimal_odds)

    @property
    def last_update(self) -> datetime:
        """Newest source timestamp among the sides."""
        return max(q.last_update for q in self.quotes)

    def quote(self, side: str) -> Quote:
        """The quote for one side."""
        for q in self.quotes:
            if q.side == side:
                return q
        raise KeyError(side)


def group_book_markets(quotes: Iterable[Quote]) -> dict[MarketKey, list[BookMarket]]:
    """Pair current quotes into complete book markets, grouped by (game_key, market, line).

    Sides whose lines disagree (a book mid-update) or a missing side leave that book out.
    Books are sorted by name inside each group.
    """
    by_book: dict[tuple[str, str, float | None, str], dict[str, Quote]] = {}
    for q in quotes:
        key = (q.game_key, q.market, market_line(q), q.book)
        sides = by_book.get(key)
        if sides is None:
            by_book[key] = {q.side: q}
        else:
            sides[q.side] = q
    grouped: dict[MarketKey, list[BookMarket]] = {}
    for (game_key, market, line, book), sides in by_book.items():
        wanted = SIDES_BY_MARKET.get(market)
        if wanted is None:
            continue
        first, second = wanted
        if first not in sides or second not in sides:
            continue
        market_key = (game_key, market, line)
        found = BookMarket(game_key, market, line, book, (sides[first], sides[second]))
        group = grouped.get(market_key)
        if group is None:
            grouped[market_key] = [found]
        else:
            group.append(found)
    for markets in grouped.values():
        if len(markets) > 1:
            markets.sort(key=_book_of)
    return grouped


def _book_of(bm: BookMarket) -> str:
    return bm.book


@dataclass(frozen=True, slots=True)
class LineMove:
    """How one book side's line changed between two quotes."""

    before: Quote
    after: Quote
    cents: float  # price move on the American line (see odds.american_cents)
    point_change: float  # after.point - before.point on this side's own point; 0 if unchanged
    toward: int  # +1: the market moved toward this side, -1: away from it, 0: no move
    size: MoveSize

    def at_least(self, min_cents: float, min_points: float) -> bool:
        """True when the move reaches the threshold: points when the point moved, else cents."""
        if self.point_change:
            return abs(self.point_change) >= min_points
        return self.cents >= min_cents


def _point_toward(side: str, change: float) -> int:
    """+1 if a point change makes this side harder to win (market moved toward it), else -1."""
    harder = change > 0 if side == "over" else change < 0
    return 1 if harder else -1


def line_move(before: Quote, after: Quote) -> LineMove:
    """Describe the move from `before` to `after` of the same book side."""
    if book_side_key(before) != book_side_key(after):
        raise ValueError("a line move compares two quotes of the same game, market, side and book")
    point_change = 0.0
    if before.point is not None and after.point is not None:
        point_change = after.point - before.point
    cents = american_cents(before.price, after.price)
    if point_change:
        toward = _point_toward(after.side, point_change)
    else:
        # A side moving "toward" gets more expensive: its implied probability rises.
        d_before, d_after = american_to_decimal(before.price), american_to_decimal(after.price)
        toward = (d_after < d_before) - (d_after > d_before)
    size = classify_move(0.0 if point_change else cents, point_change)
    return LineMove(before, after, cents, point_change, toward, size)


def _first(item: tuple[BookSideKey, Quote]) -> BookSideKey:
    return item[0]


def _index_at(series: Sequence[Quote], moment: datetime) -> int:
    """Index of the newest quote with last_update <= moment, or -1 if none."""
    return bisect.bisect_right(series, moment, key=quote_time) - 1


def move_in_window(series: Sequence[Quote], start: datetime, end: datetime) -> LineMove | None:
    """The book side's move over (start, end]: from its price at `start` to its price at `end`.

    Without a quote at or before `start`, the first quote inside the window is the baseline.
    Returns None when nothing changed in the window.
    """
    if start > end:
        raise ValueError(f"window start {start} is after its end {end}")
    last = _index_at(series, end)
    if last < 0:
        return None
    before, after = series[max(_index_at(series, start), 0)], series[last]
    if (before.price, before.point) == (after.price, after.point):
        return None
    return line_move(before, after)


def last_change_at(series: Sequence[Quote], now: datetime) -> datetime | None:
    """When the book side last changed price or point, as of `now` (its first quote if never)."""
    last = _index_at(series, now)
    if last < 0:
        return None
    current = (series[last].price, series[last].point)
    i = last
    while i > 0 and (series[i - 1].price, series[i - 1].point) == current:
        i -= 1
    return series[i].last_update


def best_quote(quotes: Iterable[Quote]) -> Quote | None:
    """The bettor's best price: highest decimal odds, ties to the newest, then the book name."""
    ordered = sorted(quotes, key=lambda q: q.book)
    if not ordered:
        return None
    return max(ordered, key=lambda q: (american_to_decimal(q.price), q.last_update))


@dataclass(frozen=True, slots=True)
class Consensus:
    """Fair probabilities for one market at one line and where they came from."""

    probs: dict[str, float]  # side -> fair probability, summing to 1
    source: ConsensusSource
    books: tuple[str, ...]
    last_update: datetime  # newest quote used

    def describe(self) -> str:
        """A short phrase for explanations, e.g. 'sharp consensus pinnacle, circa'."""
        if self.source == "sharp":
            return f"sharp consensus {', '.join(self.books)}"
        if self.source == "lowest_hold":
            return f"lowest-hold book {self.books[0]}"
        return f"median of {len(self.books)} books"


def consensus_fair_probs(
    markets: Sequence[BookMarket],
    sharp_books: frozenset[str],
    method: str = "multiplicative",
    fallback: ConsensusFallback = "lowest_hold",
) -> Consensus | None:
    """Devigged consensus: mean of the sharp books; else the lowest-hold book; else the median.

    The median of every book's devigged probabilities is used when `fallback` asks for it or when
    no book has a positive hold (each quote is itself an arbitrage: not a price to trust alone).
    """
    if not markets:
        return None
    sides = markets[0].sides
    sharp = [bm for bm in markets if bm.book in sharp_books]
    if sharp:
        fair = [devig(method, bm.decimal_odds) for bm in sharp]
        probs = [statistics.fmean(col) for col in zip(*fair, strict=True)]
        return _consensus(sides, probs, "sharp", sharp)
    sane = [bm for bm in markets if bm.hold > 0.0]
    if fallback == "lowest_hold" and sane:
        lowest = min(sane, key=lambda bm: (bm.hold, bm.book))
        return _consensus(sides, devig(method, lowest.decimal_odds), "lowest_hold", [lowest])
    fair = [devig(method, bm.decimal_odds) for bm in markets]
    probs = [statistics.median(col) for col in zip(*fair, strict=True)]
    return _consensus(sides, probs, "median", list(markets))


def _consensus(
    sides: Sequence[str],
    probs: Sequence[float],
    source: ConsensusSource,
    used: Sequence[BookMarket],
) -> Consensus:
    """Normalise probabilities to sum to 1 and record the books used."""
    total = sum(probs)
    return Consensus(
        probs={s: p / total for s, p in zip(sides, probs, strict=True)},
        source=source,
        books=tuple(bm.book for bm in used),
        last_update=max(bm.last_update for bm in used),
    )


def latest_splits(splits: Iterable[Split], now: datetime | None = None) -> dict[SplitKey, Split]:
    """Newest split per (game_key, market, side) as of `now`."""
    latest: dict[SplitKey, Split] = {}
    for s in splits:
        if now is not None and s.as_of > now:
            continue
        key = (s.game_key, s.market, s.side)
        seen = latest.get(key)
        if seen is None or s.as_of >= seen.as_of:
            latest[key] = s
    return latest


@dataclass(slots=True)
class MarketIndex:
    """One pass over a MarketState as of `now`: upcoming games only, nothing from the future."""

    now: datetime
    games: dict[str, Game]
    sharp_books: frozenset[str]
    series: dict[BookSideKey, list[Quote]]  # per book side, oldest first
    current: dict[BookSideKey, Quote]
    by_side: dict[SplitKey, list[Quote]]  # every book's current quote per side, sorted by book
    book_markets: dict[MarketKey, list[BookMarket]]
    splits: dict[SplitKey, Split]
    # what strategies derive from this index, computed once for all of them (steam's moves,
    # which stale line reads too), by the deriver's key; never copied to another index
    derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def build(cls, state: MarketState, now: datetime, *, ordered: bool = False) -> MarketIndex:
        """Index the state for games that have not started, using data known at `now`.

        `ordered` says the state holds games not started only in its history and splits, and
        its history is already what the index keeps, in its order: oldest first, none after
        `now` (the analysis memo's per-market inputs are), so neither is filtered by game nor
        the history sorted or cut again."""
        games = {k: g for k, g in state.games.items() if g.commence_time > now}
        if ordered:
            quotes: Iterable[Quote] = state.history
        else:  # sorting is ~O(n) when already sorted
            quotes = (
                q
                for q in sorted(state.history, key=quote_time)
                if q.game_key in games and q.last_update <= now
            )
        series: dict[BookSideKey, list[Quote]] = {}
        for q in quotes:
            key = _book_side(q)
            found = series.get(key)
            if found is None:
                series[key] = [q]
            else:
                found.append(q)
        current = {key: qs[-1] for key, qs in series.items()}
        by_side: dict[SplitKey, list[Quote]] = {}
        for (game_key, market, side, _), q in sorted(current.items(), key=_first):
            side_key = (game_key, market, side)
            on_side = by_side.get(side_key)
            if on_side is None:
                by_side[side_key] = [q]
            else:
                on_side.append(q)
        return cls(
            now=now,
            games=games,
            sharp_books=state.sharp_books,
            series=series,
            current=current,
            by_side=by_side,
            book_markets=group_book_markets(current.values()),
            splits=latest_splits(
                state.splits if ordered else (s for s in state.splits if s.game_key in games),
                now,
            ),
        )

    def quotes_for_side(self, game_key: str, market: str, side: str) -> list[Quote]:
        """Every book's current quote for one side, sorted by book."""
        return self.by_side.get((game_key, market, side), [])

    def main_line(self, game_key: str, market: str, side: str) -> float | None:
        """The side's own point most books offer now (ties to the lower point); None for h2h."""
        counts: dict[float | None, int] = defaultdict(int)
        for q in self.quotes_for_side(game_key, market, side):
            counts[q.point] += 1
        if not counts or None in counts:
            return None
        return min(counts, key=lambda point: (-counts[point], point))

    def consensus(
        self, key: MarketKey, method: str, fallback: ConsensusFallback = "lowest_hold"
    ) -> Consensus | None:
        """Consensus fair probabilities for one market at one line, if any book quotes it."""
        return consensus_fair_probs(
            self.book_markets.get(key, []), self.sharp_books, method, fallback
        )
