"""The embedded demo source: a seeded, network-free MLB market day, replayable at any speed.

`fetch(now)` is a pure function of (seed, day, scale, now): the whole day is simulated once in
`__init__` as per-book quote timelines, and a fetch only looks up what was in force at `now`.
The answer is rendered as Odds API / MLB Stats API / splits payloads and goes through the same
parsers as real data, planted bad rows included.
"""

from __future__ import annotations

import math
import random
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from app.pipelines.sources import demo_payloads as render
from app.pipelines.sources.base import Source
from app.pipelines.sources.demo_books import BASE_BOOKS, DemoBook, books_for
from app.pipelines.sources.demo_calendar import DemoGame, build_calendar, day_bounds
from app.pipelines.sources.demo_events import (
    DemoEvent,
    fair_path,
    plan_events,
    plan_soft_lines,
)
from app.pipelines.sources.demo_splits import SplitPoint, SplitsTimeline, build_splits
from app.pipelines.sources.demo_timelines import (
    MARKETS,
    BookState,
    BookTimeline,
    build_timeline,
    plant_arbitrage,
    plant_bad_row,
    plant_soft_line,
)
from app.pipelines.sources.mlb_format import parse_mlb_schedule
from app.pipelines.sources.odds_api_format import parse_odds
from app.pipelines.types import Game, Quote, Rejected, Score, SourceBatch, Split
from app.pipelines.validation import NEW_YORK, Parsed, content_hash, parse_splits

_BookRows = tuple[BookState, list[Quote], list[Rejected]]  # a state and what parsing it gave


@dataclass(frozen=True, slots=True)
class _GameRows:
    """One game's odds rows, the same for every fetch from `since` up to `until` (epoch s)."""

    since: float
    until: float
    marks: list[int]
    games: list[Game]
    rejected: list[Rejected]
    quotes: list[Quote]


class DemoSource(Source):
    """A deterministic simulated market: 15 * scale games, 10+ books, planted strategy events."""

    name = "demo"
    title = "The demo market"
    sharp_books = frozenset(book.key for book in BASE_BOOKS if book.sharp)

    def __init__(
        self, seed: int = 42, day: date | None = None, scale: int = 1, *, rolling: bool = False
    ) -> None:
        """Simulate the whole day up front; `day` defaults to today in New York. `rolling`
        spreads the slate around the clock (see RollingDemoSource)."""
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale must be 1 or more, not {scale}")
        self.seed, self.scale, self.rolling = seed, scale, rolling
        self.day = day or datetime.now(NEW_YORK).date()
        self.books: tuple[DemoBook, ...] = books_for(scale)
        mode = ":rolling" if rolling else ""
        root = f"dugout-demo:{seed}:{self.day.isoformat()}:{scale}{mode}"
        games = build_calendar(random.Random(f"{root}:calendar"), self.day, scale, rolling=rolling)
        self.games: tuple[DemoGame, ...] = tuple(games)
        planned = plan_events(random.Random(f"{root}:events"), games, self.books)
        planned += plan_soft_lines(random.Random(f"{root}:soft"), games, self.books, planned)
        by_game: dict[str, list[DemoEvent]] = {}
        for event in planned:
            by_game.setdefault(event.game_key, []).append(event)
        self._timelines: list[dict[str, BookTimeline]] = []
        self._splits: list[tuple[SplitsTimeline, ...]] = []
        placed: list[DemoEvent] = []
        for game in self.games:
            placed += self._simulate(root, game, by_game.get(game.game_key, []))
        self.events: tuple[DemoEvent, ...] = tuple(sorted(placed, key=lambda e: e.start_ts))
        self._known_keys = {game.event_id: game.game_key for game in self.games}
        pairs = [(game.away, game.home) for game in self.games]
        self._twins = {g.index for g in self.games if pairs.count((g.away, g.home)) > 1}
        # Parse results per immutable state: a fetch re-parses only what changed since the last.
        self._lock = threading.Lock()
        self._lines = [[lines[b.key] for b in self.books] for lines in self._timelines]
        self._event_memo: dict[int, tuple[list[Game], list[Rejected]]] = {}
        self._odds_memo: list[list[_BookRows | None]] = [[None] * len(self.books) for _ in games]
        # per game, its odds rows while no book's state changes: [from, until) in epoch
        # seconds, the marks, games, rejected rows and quotes one fetch in that span gives
        self._game_rows: dict[int, _GameRows] = {}
        self._splits_memo: list[dict[str, tuple[SplitPoint, Parsed]]] = [{} for _ in self.games]
        self._schedule_memo: dict[int, tuple[render.Status, Parsed]] = {}

    def _simulate(self, root: str, game: DemoGame, events: list[DemoEvent]) -> list[DemoEvent]:
        """One game's fair path, books' timelines with events planted, splits; events as placed."""
        rng = random.Random(f"{root}:game:{game.index}")
        path = fair_path(rng, game, events)
        steam = next((e for e in events if e.kind == "steam"), None)
        timelines = {
            book.key: build_timeline(
                random.Random(f"{root}:game:{game.index}:{book.key}"), game, book, path, steam
            )
            for book in self.books
        }
        books = {book.key: book for book in self.books}
        sharp = sorted(self.sharp_books)
        placed = []
        for event in events:
            if event.kind == "arbitrage" and event.book is not None:
                plant_arbitrage(event, books[event.book], timelines)
            elif event.kind == "soft_line" and event.book is not None:
                soft = plant_soft_line(event, books[event.book], timelines, sharp)
                if soft is None:
                    continue  # no +2% price short of an arbitrage existed: left out
                event = soft
            elif event.kind == "bad_row" and event.book is not None:
                plant_bad_row(event, timelines[event.book])
            placed.append(event)
        self._timelines.append(timelines)
        self._splits.append(tuple(build_splits(rng, game, m, path, events) for m in MARKETS))
        return placed

    def __repr__(self) -> str:
        """Identify the simulated day."""
        return f"DemoSource(seed={self.seed}, day={self.day.isoformat()}, scale={self.scale})"

    def replay_times(
        self, step: timedelta = timedelta(minutes=1), start: datetime | None = None
    ) -> Iterator[datetime]:
        """`now` values from the first market opening (or `start`) to the last final, every step."""
        if step <= timedelta(0):
            raise ValueError("step must be positive")
        first, last = day_bounds(list(self.games))
        moment = start or first
        while moment <= last + step:
            yield moment
            moment += step

    # --- whole payloads, for inspection and tests ---------------------------------------------

    def odds_payload(self, now: datetime) -> list[dict[str, Any]]:
        """The Odds API v4 odds response at `now`: events not yet started, each book's quote."""
        ts = _ts(now)
        events = []
        for game, timelines in zip(self.games, self._timelines, strict=True):
            if _is_open(game, ts):
                states = [(book, timelines[book.key].at(ts)) for book in self.books]
                books = [render.bookmaker(b, game, s) for b, s in states if s is not None]
                events.append(render.event(game, books))
        return events

    def splits_payload(self, now: datetime) -> list[dict[str, Any]]:
        """Splits records (our own format) in force at `now` for games not yet started."""
        ts = _ts(now)
        records = []
        for game, splits in zip(self.games, self._splits, strict=True):
            if _is_open(game, ts):
                for market, timeline in zip(MARKETS, splits, strict=True):
                    point = timeline.at(ts)
                    if point is not None:
                        records.extend(render.split_records(game, market, point))
        return records

    def schedule_payload(self, now: datetime) -> dict[str, Any]:
        """The MLB Stats API schedule response for the day, statuses and finals as of `now`."""
        ts, official = _ts(now), self.day.isoformat()
        rows = [
            render.schedule_game(g, render.status_at(g, ts), official, g.index in self._twins)
            for g in self.games
        ]
        return render.schedule(official, rows)

    # --- fetch: the same payloads, parsed incrementally -------------------------------------

    def _fetch(self, now: datetime, kinds: frozenset[str] | None = None) -> SourceBatch:
        """The market at `now`, through the real parsers; unchanged rows reuse earlier results."""
        ts = _ts(now)
        batch = SourceBatch(self.name, now)
        marks: list[Any] = [self.seed, self.day.isoformat(), self.scale]
        with self._lock:
            for game in self.games:
                if _is_open(game, ts):
                    self._odds_rows(game, now, ts, batch, marks)
                    self._split_rows(game, now, ts, batch, marks)
            self._schedule_rows(ts, batch, marks)
        batch.raw_hash = content_hash(marks)  # equal marks <=> equal payloads
        return batch

    def _odds_rows(
        self, game: DemoGame, now: datetime, ts: int, batch: SourceBatch, marks: list[Any]
    ) -> None:
        """Quotes of every book for one game; only bookmakers whose state changed are parsed,
        and while none did since the game's last fetch its rows are handed out again whole."""
        kept = self._game_rows.get(game.index)
        if kept is not None and kept.since <= ts < kept.until:
            marks.extend(kept.marks)
            batch.games.extend(kept.games)
            batch.rejected.extend(kept.rejected)
            batch.quotes.extend(kept.quotes)
            return
        memo = self._odds_memo[game.index]
        shown: list[int] = []
        stale: list[tuple[int, DemoBook, BookState]] = []
        first = len(marks)
        since, until = -math.inf, math.inf  # where every book's state is the one at `ts`
        for j, (book, timeline) in enumerate(zip(self.books, self._lines[game.index], strict=True)):
            times = timeline.times
            i = bisect_right(times, ts) - 1
            marks.append(i)
            if i + 1 < len(times):
                until = min(until, times[i + 1])
            if i >= 0:
                since = max(since, times[i])
                shown.append(j)
                hit = memo[j]
                if hit is None or hit[0] is not timeline.states[i]:
                    stale.append((j, book, timeline.states[i]))
        if stale or game.index not in self._event_memo:
            payload = [render.event(game, [render.bookmaker(b, game, s) for _, b, s in stale])]
            parsed = parse_odds(payload, source=self.name, now=now, known_keys=self._known_keys)
            quotes: dict[str, list[Quote]] = {}
            for quote in parsed.quotes:
                quotes.setdefault(quote.book, []).append(quote)
            rejected: dict[str, list[Rejected]] = {}
            for row in parsed.rejected:
                rejected.setdefault(_book_of(row), []).append(row)
            self._event_memo[game.index] = (parsed.games, rejected.pop("", []))
            for j, book, state in stale:
                memo[j] = (state, quotes.get(book.key, []), rejected.get(book.key, []))
        games, event_rows = self._event_memo[game.index]
        rejected_rows, quotes_rows = list(event_rows), []
        for j in shown:
            rows = memo[j]
            assert rows is not None  # every shown book was parsed above or on an earlier fetch
            quotes_rows.extend(rows[1])
            rejected_rows.extend(rows[2])
        kept = _GameRows(since, until, marks[first:], list(games), rejected_rows, quotes_rows)
        self._game_rows[game.index] = kept
        batch.games.extend(kept.games)
        batch.rejected.extend(kept.rejected)
        batch.quotes.extend(kept.quotes)

    def _split_rows(
        self, game: DemoGame, now: datetime, ts: int, batch: SourceBatch, marks: list[Any]
    ) -> None:
        """Splits of one game's markets; only snapshots that changed are parsed."""
        memo, shown, stale = self._splits_memo[game.index], [], []
        for market, timeline in zip(MARKETS, self._splits[game.index], strict=True):
            i = bisect_right(timeline.times, ts) - 1
            marks.append(i)
            if i >= 0:
                shown.append(market)
                hit = memo.get(market)
                if hit is None or hit[0] is not timeline.points[i]:
                    stale.append((market, timeline.points[i]))
        if stale:
            records = [r for m, p in stale for r in render.split_records(game, m, p)]
            parts = _partition(parse_splits(records, source=self.name, now=now), _market_of)
            for market, point in stale:
                memo[market] = (point, parts.get(market, Parsed()))
        for market in shown:
            _extend(batch, memo[market][1])

    def _schedule_rows(self, ts: int, batch: SourceBatch, marks: list[Any]) -> None:
        """Every game's status and score; only games whose status changed are parsed."""
        official, stale = self.day.isoformat(), []
        for game in self.games:
            status = render.status_at(game, ts)
            marks.append(status[2])
            hit = self._schedule_memo.get(game.index)
            if hit is None or hit[0] != status:
                stale.append((game, status))
        if stale:
            rows = [render.schedule_game(g, s, official, g.index in self._twins) for g, s in stale]
            parsed = parse_mlb_schedule(render.schedule(official, rows), source=self.name)
            by_pk = {str(g.game_pk): g.game_key for g, _ in stale}
            parts = _partition(parsed, lambda row: _game_of(row, by_pk))
            for game, status in stale:
                self._schedule_memo[game.index] = (status, parts.get(game.game_key, Parsed()))
        # The schedule's rows are kept beside the odds events of the same games: they carry the
        # gamePk and game number the events are linked to (app.pipelines.identity).
        for game in self.games:
            part = self._schedule_memo[game.index][1]
            batch.games.extend(part.games)
            batch.scores.extend(part.scores)
            batch.rejected.extend(part.rejected)


def _ts(now: datetime) -> int:
    """Whole epoch seconds at or before `now` (quotes are stamped to the second)."""
    return math.floor(now.timestamp())


def _is_open(game: DemoGame, ts: int) -> bool:
    """Whether the game's markets are up: before first pitch and not called off."""
    closes = game.commence if game.postponed_at is None else game.postponed_at
    return ts < closes


def _extend(batch: SourceBatch, parsed: Parsed) -> None:
    """Append parsed rows to the batch as they are (the caller avoids duplicate games)."""
    batch.games.extend(parsed.games)
    batch.quotes.extend(parsed.quotes)
    batch.splits.extend(parsed.splits)
    batch.scores.extend(parsed.scores)
    batch.rejected.extend(parsed.rejected)


def _partition(parsed: Parsed, slot_of: Callable[[Any], str]) -> dict[str, Parsed]:
    """Split one parse result into per-slot results (per book, per market, per game)."""
    parts: dict[str, Parsed] = {}
    for name in ("games", "quotes", "scores", "splits", "rejected"):
        for row in getattr(parsed, name):
            getattr(parts.setdefault(slot_of(row), Parsed()), name).append(row)
    return parts


def _book_of(row: Rejected) -> str:
    """The bookmaker a quarantined odds row came from; "" for event-level rows."""
    book = row.payload.get("bookmaker")
    return book if isinstance(book, str) else ""


def _market_of(row: Split | Rejected) -> str:
    """The market a parsed splits row belongs to."""
    return row.market if isinstance(row, Split) else str(row.payload.get("market", ""))


def _game_of(row: Game | Score | Rejected, by_pk: dict[str, str]) -> str:
    """The game key a parsed schedule row belongs to."""
    if isinstance(row, Game | Score):
        return row.game_key
    return by_pk.get(str(row.payload.get("gamePk")), "")
