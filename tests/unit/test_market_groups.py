"""The analysis memo's grouping of quotes by market across ticks (MarketGroups) gives what a
fresh grouping of each tick's window gives, whichever way the window changed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from app.pipelines.analysis_memo import MarketGroups, quotes_by_market
from app.pipelines.types import Quote

T0 = datetime(2026, 7, 4, 12, tzinfo=UTC)
GAMES = ["G1", "G2", "G3"]
MARKETS = ["h2h", "spreads", "totals"]


def _quote(rng: random.Random, at: datetime) -> Quote:
    return Quote(rng.choice(GAMES), rng.choice(MARKETS), "home", rng.choice("abcd"), 100, None, at)


class _Counting(MarketGroups):
    """Counts the ticks that took the previous grouping forward."""

    carried = 0

    def _carried(self, history, now):
        found = super()._carried(history, now)
        self.carried += found is not None
        return found


def test_carried_groups_equal_a_fresh_grouping_tick_after_tick() -> None:
    rng = random.Random(7)
    groups, window = _Counting(), []
    for tick in range(400):
        now = T0 + timedelta(minutes=tick)
        # the usual tick: quotes newer than the window's (ties at one second included)
        window += [_quote(rng, now - timedelta(seconds=rng.choice([0, 0, 1]))) for _ in range(3)]
        window.sort(key=lambda q: q.last_update)
        window = [q for q in window if q.last_update >= now - timedelta(hours=1)]  # lookback
        if tick % 97 == 50:  # a game starts: its quotes leave from the middle
            window = [q for q in window if q.game_key != "G2"]
        if tick % 131 == 70:  # a stored quote arrives late, older than the newest
            window.insert(len(window) // 2, _quote(rng, now - timedelta(minutes=30)))
        if tick % 113 == 60:  # a late quote at the end, out of time order
            window.append(_quote(rng, now - timedelta(minutes=20)))
        if tick % 89 == 40:  # a quote from after `now` (a clock behind the feed's)
            window.append(_quote(rng, now + timedelta(seconds=5)))
        assert groups.group(list(window), now) == dict(quotes_by_market(window, now)), tick
        window = [q for q in window if q.last_update <= now]  # what the source keeps
    assert groups.carried > 300  # most ticks took the previous grouping forward


def test_the_callers_lists_are_its_own() -> None:
    rng = random.Random(3)
    groups = MarketGroups()
    window = [_quote(rng, T0 + timedelta(seconds=i)) for i in range(20)]
    first = groups.group(window, T0 + timedelta(minutes=1))
    for quotes in first.values():
        quotes.clear()  # a caller that changes what it got changes nothing kept
    later = [*window, _quote(rng, T0 + timedelta(minutes=1))]
    assert groups.group(later, T0 + timedelta(minutes=2)) == dict(
        quotes_by_market(later, T0 + timedelta(minutes=2))
    )
