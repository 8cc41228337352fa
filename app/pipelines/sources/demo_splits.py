"""The demo's public betting splits: tickets% and money% per market, drifting through the day."""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass

from app.pipelines.sources.demo_calendar import DemoGame, iso
from app.pipelines.sources.demo_events import DemoEvent, FairPath

# (as_of, tickets% on side A, money% on side A, tickets counted so far); side A = home / over
SplitPoint = tuple[str, float, float, int]
_VOLUME = {"h2h": 1.0, "spreads": 0.35, "totals": 0.6}
_SPLIT_EVENTS = ("reverse_line_movement", "sharp_action")


@dataclass(slots=True)
class SplitsTimeline:
    """Split snapshots for one game and market, each in force until the next."""

    times: list[int]
    points: list[SplitPoint]

    def at(self, ts: int) -> SplitPoint | None:
        """The newest snapshot taken at or before `ts`."""
        i = bisect_right(self.times, ts) - 1
        return self.points[i] if i >= 0 else None


def build_splits(
    rng: random.Random, game: DemoGame, market: str, path: FairPath, events: list[DemoEvent]
) -> SplitsTimeline:
    """Snapshots every ~15 min: the public leans to favourites and overs; events override it."""
    event = next((e for e in events if e.market == market and e.kind in _SPLIT_EVENTS), None)
    closes = game.commence if game.postponed_at is None else game.postponed_at
    volume = rng.randint(1500, 6000) * _VOLUME[market]
    if event is not None:
        volume = max(volume, 3000)  # enough tickets that the split means something
    popularity = rng.gauss(0, 4)
    event_tickets = rng.uniform(64, 72) if market != "totals" else rng.uniform(52, 58)
    event_gap = rng.uniform(16, 24)
    walk = 0.0
    timeline = SplitsTimeline([], [])
    t = game.opens + 1800
    while t < closes:
        k = bisect_right(path.times, t) - 1
        walk = 0.85 * walk + rng.gauss(0, 1.0)
        gap = min(max(rng.gauss(0, 2.5), -7.0), 7.0)
        if market == "totals":
            tickets_a = 56 + popularity / 2 + walk
        else:
            slope = 90 if market == "h2h" else 60
            tickets_a = 50 + slope * (path.home[k] - 0.5) + popularity + walk
        money_a = tickets_a + gap
        if event is not None and t >= event.start_ts:
            tickets_a, money_a = _event_split(rng, event, event_tickets, event_gap)
        frac = (t - game.opens) / (game.commence - game.opens)
        point = (iso(t), _pct(tickets_a), _pct(money_a), int(volume * frac**1.3))
        timeline.times.append(t)
        timeline.points.append(point)
        t += max(300, int(rng.expovariate(1 / 900)))
    return timeline


def _event_split(
    rng: random.Random, event: DemoEvent, public: float, gap: float
) -> tuple[float, float]:
    """Side-A tickets% and money% while an RLM or sharp-action event is on."""
    if event.kind == "reverse_line_movement":
        tickets = max(61.0, public + rng.gauss(0, 1.0))  # the public side, always >= 60%
        money = tickets - gap  # the other side gets `gap` points more money than tickets
        return (tickets, money) if event.side == "home" else (100 - tickets, 100 - money)
    over = public + rng.gauss(0, 1.0)  # sharp action on the under: the over keeps the tickets
    return over, over - event.size


def _pct(value: float) -> float:
    """A plausible published percentage, one decimal."""
    return round(min(max(value, 3.0), 97.0), 1)
