"""Analysis across ticks, market by market: a market whose inputs did not change keeps its result.

Every strategy judges one market of one game (h2h, spreads, totals) from that market's data
alone (its quotes in the lookback window, its splits, the game itself) and from `now` only
through its time windows (steam: which quotes lie before `now - steam_window`; stale line:
which before `now - stale_window`). So a market's opportunities are a function of those inputs
and of where each window cuts its quotes: when all of them are as at the previous tick, the
strategies would find the same opportunities again, and the memo hands them back (dated `now`)
instead of running them. When only the cuts moved, the strategies without a window (EV,
arbitrage, reverse line movement, sharp action) would find the same again too, and only steam
and stale line run, on the same index dated `now`. Any other strategy class (whose use of time
is not known here) turns the memo off.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from operator import attrgetter, is_, le
from typing import Any

from app.pipelines.market import MarketIndex, quote_time
from app.pipelines.strategies import ALL_STRATEGIES
from app.pipelines.types import Game, MarketState, Opportunity, Quote, Split

_KNOWN = frozenset(ALL_STRATEGIES.values())
# The strategies that read `now` through their windows (steam_window, stale_window); the others
# judge a market from its quotes, splits and game alone.
_WINDOWED = frozenset({ALL_STRATEGIES["steam"], ALL_STRATEGIES["stale_line"]})


@dataclass(slots=True)
class _MarketResult:
    key: tuple[Any, ...]  # the market's inputs (see MarketInputs.key)
    found: list[list[Opportunity]]  # per strategy, in the strategies' order
    index: MarketIndex


@dataclass(slots=True)
class MarketInputs:
    """What the strategies read of one market of one game at `now`."""

    game: Game
    quotes: list[Quote]  # oldest first, none after `now`
    splits: list[Split]

    def key(self, windows: Sequence[timedelta], now: datetime) -> tuple[Any, ...]:
        """The market's inputs as one comparable value (the same objects compare fast)."""
        cuts = tuple(bisect_right(self.quotes, now - w, key=quote_time) for w in windows)
        return (self.game, tuple(self.quotes), tuple(self.splits), cuts)


MarketKey = tuple[str, str]  # game_key, market
_market_of = attrgetter("game_key", "market")  # a quote's MarketKey, built in C


def quotes_by_market(history: Sequence[Quote], now: datetime) -> dict[MarketKey, list[Quote]]:
    """Quotes up to `now` per market, each market's oldest first (the order MarketIndex.build
    gives the whole: by time, ties as they come)."""
    ordered = sorted(history, key=quote_time)  # ~O(n): the window comes in time order
    quotes: defaultdict[MarketKey, list[Quote]] = defaultdict(list)
    for q in ordered[: bisect_right(ordered, now, key=quote_time)]:
        quotes[_market_of(q)].append(q)
    return quotes


class MarketGroups:
    """quotes_by_market across ticks of one window: a window that is the previous one less
    some oldest quotes plus newer ones (the usual tick) regroups only those; anything else
    (a game that started took its quotes out of the middle, quotes out of time order, a quote
    after `now`) is grouped afresh. Either way the result is quotes_by_market's."""

    def __init__(self) -> None:
        self._window: list[Quote] = []
        self._groups: dict[MarketKey, list[Quote]] = {}

    def group(self, history: Sequence[Quote], now: datetime) -> dict[MarketKey, list[Quote]]:
        """quotes_by_market(history, now), the lists the caller's own copies."""
        groups = self._carried(history, now)
        window = list(history)
        if groups is None:
            groups = dict(quotes_by_market(history, now))
            times = list(map(quote_time, window))
            if not all(map(le, times, islice(times, 1, None))) or (times and times[-1] > now):
                window = []  # not a window in time order up to `now`: the next tick starts afresh
        self._window, self._groups = window, groups
        return {k: list(v) for k, v in groups.items()}

    def _carried(
        self, history: Sequence[Quote], now: datetime
    ) -> dict[MarketKey, list[Quote]] | None:
        prev = self._window
        if not prev or not history or history[-1].last_update > now:
            return None
        first = history[0]
        dropped = bisect_left(prev, first.last_update, key=quote_time)
        while dropped < len(prev) and prev[dropped] is not first:
            if prev[dropped].last_update != first.last_update:
                return None  # the first quote is not the previous window's
            dropped += 1  # ties: the first kept quote is among those of its time
        kept = len(prev) - dropped
        if kept == 0 or kept > len(history):
            return None
        if not all(map(is_, islice(history, kept), islice(prev, dropped, None))):
            return None  # not the previous window's tail: something left from the middle
        added = history[kept:]
        last = prev[-1].last_update
        for q in added:  # newer quotes in time order, none after `now`
            if q.last_update < last or q.last_update > now:
                return None
            last = q.last_update
        groups = self._groups
        gone: defaultdict[MarketKey, int] = defaultdict(int)
        for q in prev[:dropped]:  # the oldest of the window are the oldest of their markets
            gone[_market_of(q)] += 1
        for key, n in gone.items():
            del groups[key][:n]
            if not groups[key]:
                del groups[key]
        for q in added:
            groups.setdefault(_market_of(q), []).append(q)
        return groups


def inputs_by_market(
    state: MarketState, now: datetime, groups: MarketGroups | None = None
) -> dict[MarketKey, MarketInputs]:
    """The data of every market with quotes or splits of a game not started at `now` (each in
    the state's order, as MarketIndex.build orders the whole); a market with neither gives
    no strategy anything to find. `groups` carries the quotes' grouping from the tick before."""
    games = {k: g for k, g in state.games.items() if g.commence_time > now}
    quotes = (
        quotes_by_market(state.history, now) if groups is None else groups.group(state.history, now)
    )  # grouped first, games not started kept below
    splits: dict[MarketKey, list[Split]] = defaultdict(list)
    for s in state.splits:
        if s.game_key in games:
            splits[(s.game_key, s.market)].append(s)
    return {
        k: MarketInputs(games[k[0]], quotes.get(k, []), splits.get(k, []))
        for k in quotes.keys() | splits.keys()
        if k[0] in games
    }


def sub_of(market_key: MarketKey, inputs: MarketInputs, state: MarketState) -> MarketState:
    """The state of one market alone, as its strategies read it."""
    return MarketState(
        games={market_key[0]: inputs.game},
        history=inputs.quotes,
        splits=inputs.splits,
        sharp_books=state.sharp_books,
    )


class MarketIndexes:
    """The per-market indexes of one tick, read like one MarketIndex by the analysis stage."""

    def __init__(self, indexes: dict[MarketKey, MarketIndex]) -> None:
        self.indexes = indexes

    def quotes_for_side(self, game_key: str, market: str, side: str) -> list[Quote]:
        """Every book's current quote for one side, sorted by book."""
        index = self.indexes.get((game_key, market))
        return index.quotes_for_side(game_key, market, side) if index is not None else []


class AnalysisMemo:
    """Per market, the inputs the strategies saw at the previous tick and what they found."""

    def __init__(self) -> None:
        self._markets: dict[MarketKey, _MarketResult] = {}
        self._strategies: tuple[int, ...] = ()
        self.reused = self.computed = 0  # markets, for benchmarks and tests
        self.rejudged = 0  # markets whose windowed strategies alone ran again
        self._groups = MarketGroups()
        # Fingerprints of opportunities known to be stored (a replay's own, or found stored):
        # they are not looked up again. A replay's batch that fails rolls back whole and ends
        # the replay, so none of them outlives its rows.
        self.stored: set[str] = set()

    @staticmethod
    def applies(strategies: Sequence[Any]) -> bool:
        """Whether every strategy is one whose use of time the memo knows."""
        return all(type(s) in _KNOWN for s in strategies)

    def detect(
        self, strategies: Sequence[Any], state: MarketState, now: datetime
    ) -> tuple[list[Opportunity], MarketIndexes]:
        """What `strategy.detect(state, now)` finds, each strategy in turn, as one list, and
        the per-market indexes; unchanged markets are not analysed again."""
        ids = tuple(id(s) for s in strategies)
        if ids != self._strategies:
            self._markets.clear()
            self._strategies = ids
        windows = sorted(
            {w for s in strategies for w in (s.config.steam_window, s.config.stale_window)}
        )
        results: dict[MarketKey, _MarketResult] = {}
        # (game, market) order is the strategies' own output order (game, market, side, ...)
        for market_key, inputs in sorted(inputs_by_market(state, now, self._groups).items()):
            key = (state.sharp_books, inputs.key(windows, now))
            seen = self._markets.get(market_key)
            if seen is not None and seen.key == key:
                self.reused += 1
                results[market_key] = seen
                continue
            if seen is not None and seen.key[1][:-1] == key[1][:-1] and seen.key[0] == key[0]:
                # only the windows' cuts moved: the index is the same data as of a later now,
                # and only the windowed strategies can find something else
                self.rejudged += 1
                index = replace(seen.index, now=now)
                found = [
                    s.detect(sub_of(market_key, inputs, state), now, index)
                    if type(s) in _WINDOWED
                    else seen.found[i]
                    for i, s in enumerate(strategies)
                ]
                results[market_key] = _MarketResult(key, found, index)
                continue
            self.computed += 1
            sub = sub_of(market_key, inputs, state)
            index = MarketIndex.build(sub, now, ordered=True)  # inputs.quotes are as it keeps
            found = [s.detect(sub, now, index) for s in strategies]
            results[market_key] = _MarketResult(key, found, index)
        self._markets = results  # markets gone (started, out of the window) are forgotten
        found_all = [
            replace(o, detected_at=now) if o.detected_at != now else o
            for i in range(len(strategies))
            for r in results.values()
            for o in r.found[i]
        ]
        return found_all, MarketIndexes({k: r.index for k, r in results.items()})
