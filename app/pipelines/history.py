"""Quote history kept in memory between ticks: each tick reads only the rows collected since;
and the splits window of a replay, which keeps what it stores itself."""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import QuoteRow, SplitRow
from app.pipelines.types import Quote, Split

# A stored split's columns in the order of Split's fields (every reader builds Split(*row)).
SPLIT_COLUMNS = (
    SplitRow.game_key,
    SplitRow.market,
    SplitRow.side,
    SplitRow.tickets_pct,
    SplitRow.money_pct,
    SplitRow.tickets,
    SplitRow.as_of,
)

QuoteKey = tuple[str, str, str, str, str, datetime]  # source, game, market, side, book, time
# Rows committed by another process up to this long after their collected_at are still seen.
OVERLAP = timedelta(minutes=2)


class QuoteHistory:
    """The lookback window of quotes for every source, refreshed incrementally.

    Rows are kept in (last_update, arrival) order, so a tick prunes and selects by bisection
    and copies one slice instead of walking and re-sorting the whole window. Their quotes are
    kept beside them in the same order, so a window of every source the history holds is one
    list slice."""

    def __init__(self) -> None:
        self._keys: set[QuoteKey] = set()
        self._rows: list[tuple[datetime, int, str, Quote, QuoteKey]] = []
        self._quotes: list[Quote] = []  # self._rows' quotes, index for index
        self._sources: set[str] = set()  # every source a row was ever kept from
        self._arrivals = 0
        self._watermark: datetime | None = None
        self._lock = threading.Lock()

    def window(
        self, session: Session, now: datetime, lookback: timedelta, sources: Sequence[str]
    ) -> list[Quote]:
        """Quotes with since <= last_update <= now from `sources`, oldest first.

        Only what was known at `now` counts: a replay of the past (`dugout demo seed` while a
        server collects) never takes a row from after `now` as its watermark."""
        since = now - lookback
        wanted = set(sources)
        with self._lock:
            self._load(session, since, now)
            rows = self._rows
            cut = bisect_left(rows, since, key=_updated)
            if cut:
                for row in rows[:cut]:
                    self._keys.discard(row[4])
                del rows[:cut]
                del self._quotes[:cut]
            end = bisect_right(rows, now, key=_updated)
            if self._sources <= wanted:
                return self._quotes[:end]
            return [row[3] for row in rows[:end] if row[2] in wanted]

    def _load(self, session: Session, since: datetime, now: datetime) -> None:
        query = select(
            QuoteRow.source,
            QuoteRow.game_key,
            QuoteRow.market,
            QuoteRow.side,
            QuoteRow.book,
            QuoteRow.price,
            QuoteRow.point,
            QuoteRow.last_update,
            QuoteRow.collected_at,
        ).where(QuoteRow.last_update >= since, QuoteRow.last_update <= now)
        if self._watermark is not None:
            query = query.where(QuoteRow.collected_at >= self._watermark - OVERLAP)
        newest = self._watermark
        fresh: list[tuple[datetime, int, str, Quote, QuoteKey]] = []
        for src, game, market, side, book, price, point, last_update, collected in session.execute(
            query
        ):
            key = (src, game, market, side, book, last_update)
            if key not in self._keys:
                self._keys.add(key)
                self._arrivals += 1
                quote = Quote(game, market, side, book, price, point, last_update)
                fresh.append((last_update, self._arrivals, src, quote, key))
            if collected <= now and (newest is None or collected > newest):
                newest = collected
        self._watermark = newest
        if fresh:
            self._keep(fresh)

    def clear(self) -> None:
        """Forget everything (the next window reads the database afresh)."""
        with self._lock:
            self._rows.clear()
            self._quotes.clear()
            self._sources.clear()
            self._keys.clear()
            self._watermark = None

    def _keep(self, fresh: list[tuple[datetime, int, str, Quote, QuoteKey]]) -> None:
        fresh.sort(key=_order)
        self._sources.update(row[2] for row in fresh)
        rows, quotes = self._rows, self._quotes
        if not rows or _order(fresh[0]) >= _order(rows[-1]):
            rows.extend(fresh)  # the usual tick: everything new is newer
            quotes.extend(row[3] for row in fresh)
        else:
            for row in fresh:
                at = bisect_right(rows, _order(row), key=_order)
                rows.insert(at, row)
                quotes.insert(at, row[3])


class ReplayQuoteHistory(QuoteHistory):
    """The quote window of a writer that stores every quote its reads need (the seed's
    replay, the only writer of its hours): the database is read at the first window only,
    then the window keeps what the writer hands it, in the order it was stored."""

    def __init__(self) -> None:
        super().__init__()
        self._loaded = False

    def _load(self, session: Session, since: datetime, now: datetime) -> None:
        if not self._loaded:
            self._loaded = True
            super()._load(session, since, now)

    def add(self, source: str, quotes: Sequence[Quote]) -> None:
        """Keep quotes the writer stored (a version held already is skipped, as on a read)."""
        with self._lock:
            fresh: list[tuple[datetime, int, str, Quote, QuoteKey]] = []
            for q in quotes:
                key = (source, q.game_key, q.market, q.side, q.book, q.last_update)
                if key not in self._keys:
                    self._keys.add(key)
                    self._arrivals += 1
                    fresh.append((q.last_update, self._arrivals, source, q, key))
            if fresh:
                self._keep(fresh)


def _updated(row: tuple[datetime, int, str, Quote, QuoteKey]) -> datetime:
    return row[0]


def _order(row: tuple[datetime, int, str, Quote, QuoteKey]) -> tuple[datetime, int]:
    return row[0], row[1]


class SplitWindow:
    """The lookback window of splits for a writer that stores every split its reads need
    (the seed's replay: the only writer of its hours). It reads the database once, at its
    first window, and then keeps what the writer hands it, in (as_of, arrival) order."""

    def __init__(self) -> None:
        self._keys: set[tuple[str, str, str, str, datetime]] = set()
        self._rows: list[tuple[datetime, int, str, Split]] = []
        self._arrivals = 0
        self._loaded = False

    def window(
        self,
        session: Session,
        now: datetime,
        lookback: timedelta,
        sources: Sequence[str],
        games: Collection[str],
    ) -> list[Split]:
        """Splits with since <= as_of <= now of `sources` and `games`, oldest first."""
        since = now - lookback
        if not self._loaded:
            self._load(session, since, now)
        rows = self._rows
        cut = bisect_left(rows, since, key=_split_as_of)
        if cut:
            for row in rows[:cut]:
                self._keys.discard((row[2], *_split_key(row[3])))
            del rows[:cut]
        end = bisect_right(rows, now, key=_split_as_of)
        wanted = set(sources)
        return [row[3] for row in rows[:end] if row[2] in wanted and row[3].game_key in games]

    def add(self, source: str, splits: Sequence[Split]) -> None:
        """Keep split versions the writer stored (a version it holds already is skipped)."""
        fresh = []
        for split in splits:
            key = (source, *_split_key(split))
            if key not in self._keys:
                self._keys.add(key)
                self._arrivals += 1
                fresh.append((split.as_of, self._arrivals, source, split))
        fresh.sort(key=_split_order)
        if not self._rows or not fresh or _split_order(fresh[0]) >= _split_order(self._rows[-1]):
            self._rows.extend(fresh)
        else:
            for row in fresh:
                insort(self._rows, row, key=_split_order)

    def _load(self, session: Session, since: datetime, now: datetime) -> None:
        self._loaded = True
        query = (
            select(SplitRow.source, *SPLIT_COLUMNS)
            .where(SplitRow.as_of >= since, SplitRow.as_of <= now)
            .order_by(SplitRow.as_of)
        )
        by_source: dict[str, list[Split]] = {}
        for row in session.execute(query):
            by_source.setdefault(row[0], []).append(Split(*row[1:]))
        for source, splits in by_source.items():
            self.add(source, splits)


def _split_key(split: Split) -> tuple[str, str, str, datetime]:
    return (split.game_key, split.market, split.side, split.as_of)


def _split_as_of(row: tuple[datetime, int, str, Split]) -> datetime:
    return row[0]


def _split_order(row: tuple[datetime, int, str, Split]) -> tuple[datetime, int]:
    return row[0], row[1]
