"""The always-alive demo market: round-the-clock slates, one per New York date, joined.

Each date's slate puts a first pitch every 96 minutes from 00:30 to 22:54 New York time, with
markets up about 8 h before, so whatever the hour (07:00 UTC in December included) games are
coming up, in play and finishing. A fetch at `now` is the union of the slates whose games can
be live then (yesterday's last games still in play, today's, tomorrow's first markets), each a
DemoSource: same seed and same clock, same data. `DUGOUT_DEMO_HOURS=mlb` keeps MLB's hours.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from app.pipelines.sources.base import Source
from app.pipelines.sources.demo import DemoSource
from app.pipelines.sources.demo_calendar import NEW_YORK, DemoGame
from app.pipelines.types import SourceBatch
from app.pipelines.validation import content_hash

SLATES_KEPT = 4  # simulated days held in memory (a slate costs about a second to build)


class RollingDemoSource(Source):
    """The demo market around the clock: the live slates of yesterday, today and tomorrow."""

    name = DemoSource.name
    title = DemoSource.title
    sharp_books = DemoSource.sharp_books

    def __init__(self, seed: int = 42, scale: int = 1) -> None:
        super().__init__()
        self.seed, self.scale = seed, scale
        self._slates: dict[date, DemoSource] = {}

    def slate(self, day: date) -> DemoSource:
        """The simulated slate of New York date `day` (built once, a few kept)."""
        found = self._slates.get(day)
        if found is None:
            found = DemoSource(self.seed, day, self.scale, rolling=True)
            self._slates[day] = found
            for old in sorted(self._slates)[:-SLATES_KEPT]:
                del self._slates[old]
        return found

    def days(self, now: datetime) -> list[date]:
        """The New York dates whose slates can have markets up or games on at `now`."""
        today = now.astimezone(NEW_YORK).date()
        return [today - timedelta(days=1), today, today + timedelta(days=1)]

    def games_at(self, now: datetime) -> list[DemoGame]:
        """Every game of the slates live at `now`, in first-pitch order."""
        games = [g for day in self.days(now) for g in self.slate(day).games]
        return sorted(games, key=lambda g: g.commence)

    @property
    def games(self) -> list[DemoGame]:
        """The games around the current moment (for hints and pages)."""
        return self.games_at(datetime.now(NEW_YORK))

    def _fetch(self, now: datetime, kinds: frozenset[str] | None = None) -> SourceBatch:
        """The union of the live slates' batches; one content hash over theirs."""
        batch = SourceBatch(self.name, now)
        hashes: list[Any] = [self.seed, self.scale, "rolling"]
        for day in self.days(now):
            part = self.slate(day)._fetch(now)
            batch.games.extend(part.games)
            batch.quotes.extend(part.quotes)
            batch.splits.extend(part.splits)
            batch.scores.extend(part.scores)
            batch.rejected.extend(part.rejected)
            hashes.append(part.raw_hash)
        batch.raw_hash = content_hash(hashes)
        return batch

    def __repr__(self) -> str:
        """Identify the market."""
        return f"RollingDemoSource(seed={self.seed}, scale={self.scale})"
