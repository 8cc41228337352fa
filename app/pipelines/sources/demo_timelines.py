"""Each demo book's quote timeline for one game, and the edits that plant arbs and bad rows."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

from app.pipelines.sources.demo_books import DemoBook, american_at_most, implied, two_way
from app.pipelines.sources.demo_calendar import DemoGame, iso
from app.pipelines.sources.demo_events import MIN_GAP, DemoEvent, FairPath

# (price of side A, price of side B, point of side A, market last_update, name shown for side A
# when a planted bad row renames it). Side A is home (h2h, spreads) or over (totals).
MarketQuote = tuple[int, int, float | None, str, str | None]
# (bookmaker last_update, h2h, spreads, totals)
BookState = tuple[str, MarketQuote, MarketQuote, MarketQuote]
MARKETS = ("h2h", "spreads", "totals")
MARKET_INDEX = {name: i for i, name in enumerate(MARKETS)}
SIDE_A = frozenset({"home", "over"})
SIDES_OF = {"h2h": ("home", "away"), "spreads": ("home", "away"), "totals": ("over", "under")}
RUN_LINE_SHARE = 0.72  # share of a team's wins that come by 2+ runs
UNKNOWN_TEAM = "Havana Sugar Kings"


@dataclass(slots=True)
class BookTimeline:
    """One book's states for one game, each in force from its time until the next."""

    times: list[int]
    states: list[BookState]

    def at(self, ts: int) -> BookState | None:
        """The state in force at `ts`: the newest with time <= ts; None before the first post."""
        i = bisect_right(self.times, ts) - 1
        return self.states[i] if i >= 0 else None


def build_timeline(
    rng: random.Random, game: DemoGame, book: DemoBook, path: FairPath, steam: DemoEvent | None
) -> BookTimeline:
    """Re-quote on a routine cadence and whenever the book learns of a fair move; keep changes."""
    posted = game.opens + rng.randint(*book.open_delay_s)
    closes = game.commence if game.postponed_at is None else game.postponed_at
    learned = _learn_times(rng, book, path, steam, posted)
    updates = set(_refresh_times(rng, book, posted, closes))
    updates.update(t for t in learned if t < closes)
    if steam is not None and steam.book == book.key and path.steam_index is not None:
        caught_up = learned[path.steam_index]  # the lagging book sits still until then
        updates = {u for u in updates if not steam.start_ts <= u < caught_up}
    points = (None, -1.5 if game.home_favored else 1.5, game.total)
    biases = [rng.gauss(0, 0.004) for _ in MARKETS]
    spread, gauss, vig, step = (0.0015 if book.sharp else 0.002), rng.gauss, book.vig, book.step
    noise = [gauss(0, spread) for _ in MARKETS]  # a trader's shading, revised now and then
    timeline = BookTimeline([], [])
    last: list[MarketQuote] = []
    for when in sorted(updates):
        k = bisect_right(learned, when) - 1
        home = path.home[k]
        cover = home * RUN_LINE_SHARE if game.home_favored else 1 - (1 - home) * RUN_LINE_SHARE
        quotes: list[MarketQuote] = []
        stamp = ""
        for m, fair in enumerate((home, cover, path.over[k])):
            if rng.random() < 0.3:
                noise[m] = gauss(0, spread)
            a, b = two_way(fair + biases[m] + noise[m], vig, step)
            if last and last[m][0] == a and last[m][1] == b:
                quotes.append(last[m])
            else:
                stamp = stamp or iso(when)
                quotes.append((a, b, points[m], stamp, None))
        if stamp:  # something changed
            h2h, spreads, totals = quotes
            timeline.times.append(when)
            timeline.states.append((max(h2h[3], spreads[3], totals[3]), h2h, spreads, totals))
            last = quotes
    return timeline


def _learn_times(
    rng: random.Random, book: DemoBook, path: FairPath, steam: DemoEvent | None, posted: int
) -> list[int]:
    """When this book learns of each fair move (non-decreasing); steam is followed fast."""
    learned = [posted]
    for i in range(1, len(path.times)):
        if steam is not None and i == path.steam_index:
            if book.key == steam.book:
                lag = steam.end_ts - steam.start_ts
            else:
                lag = rng.randint(5, 40) if book.sharp else rng.randint(20, 110)
        else:
            lag = rng.randint(*book.lag_s)
        learned.append(max(learned[-1], path.times[i] + lag))
    if steam is not None and steam.book == book.key and path.steam_index is not None:
        s, steam_time = path.steam_index, path.times[path.steam_index]
        learned[1:s] = [t if t < steam_time else learned[s] for t in learned[1:s]]
    return learned


def _refresh_times(rng: random.Random, book: DemoBook, posted: int, closes: int) -> list[int]:
    """Routine re-quotes: the first post, then exponential gaps around the book's cadence."""
    times, t = [posted], posted
    while True:
        t += max(MIN_GAP, int(rng.expovariate(1 / book.refresh_s)))
        if t >= closes:
            return times
        times.append(t)


def plant_arbitrage(event: DemoEvent, book: DemoBook, timelines: dict[str, BookTimeline]) -> None:
    """Give `book` a price on `side` long enough that, with the best other side, sum(1/d) < 0.995."""
    m = MARKET_INDEX[event.market]
    a_side = event.side in SIDE_A
    others = [tl.at(event.start_ts) for key, tl in timelines.items() if key != book.key]
    other_prices = [_other_price(market_of(s, m), a_side) for s in others if s is not None]
    best_other = min(implied(price) for price in other_prices)
    price = american_at_most(0.995 - best_other - event.size, book.step)
    current = market_of(_state_at(timelines[book.key], event.start_ts), m)
    stamp = iso(event.start_ts)
    if a_side:
        planted: MarketQuote = (price, current[1], current[2], stamp, None)
    else:
        planted = (current[0], price, current[2], stamp, None)
    _splice(timelines[book.key], event.start_ts, event.end_ts, m, planted)


def plant_soft_line(
    event: DemoEvent, book: DemoBook, timelines: dict[str, BookTimeline], sharp: list[str]
) -> DemoEvent | None:
    """Shade `book`'s price to `size` EV against the sharp books, short of an arbitrage.

    Tries `side`, then the other side; returns the event as planted, or None when neither side
    has such a price (the best price elsewhere is so generous that +2% would be an arb).
    """
    m, start = MARKET_INDEX[event.market], event.start_ts
    sharp_quotes = [market_of(_state_at(timelines[key], start), m) for key in sharp]
    fair_a = sum(implied(q[0]) / (implied(q[0]) + implied(q[1])) for q in sharp_quotes)
    fair_a /= len(sharp_quotes)
    others = [
        market_of(s, m) for k, tl in timelines.items() if k != book.key and (s := tl.at(start))
    ]
    a, b = SIDES_OF[event.market]
    for side in (event.side, b if event.side == a else a):
        a_side = side == a
        fair = fair_a if a_side else 1 - fair_a
        best_other = min(implied(_other_price(q, a_side)) for q in others)
        price = american_at_most(fair / (1 + event.size), book.step)
        while implied(price) + best_other < 0.999:  # keep well clear of an arbitrage
            price = price - book.step if price < -100 or price > 100 + book.step else -101
        if fair / implied(price) - 1 >= 0.02:
            current = market_of(_state_at(timelines[book.key], start), m)
            stamp = iso(start)
            if a_side:
                planted: MarketQuote = (price, current[1], current[2], stamp, None)
            else:
                planted = (current[0], price, current[2], stamp, None)
            _splice(timelines[book.key], start, event.end_ts, m, planted)
            return replace(event, side=side)
    return None


def _other_price(quote: MarketQuote, a_side: bool) -> int:
    """The price on the side opposite the planted one."""
    return quote[1] if a_side else quote[0]


def plant_bad_row(event: DemoEvent, timeline: BookTimeline) -> None:
    """Make one h2h outcome malformed for a while, the way a feed glitch would."""
    a, b, point, _, _ = _state_at(timeline, event.start_ts)[1]  # h2h
    stamp = iso(event.start_ts)
    if event.detail == "zero price":
        planted: MarketQuote = (0, b, point, stamp, None)
    elif event.detail == "unknown team":
        planted = (a, b, point, stamp, UNKNOWN_TEAM)
    else:
        planted = (-50, b, point, stamp, None)
    _splice(timeline, event.start_ts, event.end_ts, 0, planted)


def _state_at(timeline: BookTimeline, ts: int) -> BookState:
    """The state at `ts`; planting before a book has posted is a planning bug."""
    state = timeline.at(ts)
    if state is None:
        raise ValueError(f"no quote at {iso(ts)} to plant an event on")
    return state


def market_of(state: BookState, m: int) -> MarketQuote:
    """Market m (0 h2h, 1 spreads, 2 totals) of a state."""
    return (state[1], state[2], state[3])[m]


def _with_market(state: BookState, m: int, quote: MarketQuote) -> BookState:
    """`state` with market `m` replaced and the bookmaker last_update recomputed."""
    markets = [state[1], state[2], state[3]]
    markets[m] = quote
    return (max(q[3] for q in markets), markets[0], markets[1], markets[2])


def _splice(timeline: BookTimeline, start: int, end: int, m: int, quote: MarketQuote) -> None:
    """Show `quote` for market m from start until end, then the book's own quote, re-stamped."""
    times, states = timeline.times, timeline.states
    first = bisect_left(times, start)
    in_force = bisect_right(times, start) - 1
    last = bisect_left(times, end)
    window_times = [start, *times[in_force + 1 : last]]
    window = [_with_market(s, m, quote) for s in states[in_force:last]]
    tail_times, tail = times[last:], states[last:]
    if not tail_times or tail_times[0] != end:
        tail_times, tail = [end, *tail_times], [states[last - 1], *tail]
    end_stamp = iso(end)
    for i, state in enumerate(tail):
        own = market_of(state, m)
        if own[3] >= end_stamp:
            break  # the book has re-quoted this market since; later states are newer still
        tail[i] = _with_market(state, m, (own[0], own[1], own[2], end_stamp, own[4]))
    timeline.times = times[:first] + window_times + tail_times
    timeline.states = states[:first] + window + tail
