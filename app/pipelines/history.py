"""Quote history kept in memory between ticks: each tick reads only the rows collected since."""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import QuoteRow
from app.pipelines.types import Quote

QuoteKey = tuple[str, str, str, str, str, datetime]  # source, game, market, side, book, time
# Rows committed by another process up to this long after their collected_at are still seen.
OVERLAP = timedelta(minutes=2)


class QuoteHistory:
    """The lookback window of quotes for every source, refreshed incrementally.

    Rows are kept in (last_update, arrival) order, so a tick prunes and selects by bisection
    and copies one slice instead of walking and re-sorting the whole window."""

    def __init__(self) -> None:
        self._keys: set[QuoteKey] = set()
        self._rows: list[tuple[datetime, int, str, Quote, QuoteKey]] = []
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
            end = bisect_right(rows, now, key=_updated)
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
        if not fresh:
            return
        fresh.sort(key=_order)
        if not self._rows or _order(fresh[0]) >= _order(self._rows[-1]):
            self._rows.extend(fresh)  # the usual tick: everything new is newer
        else:
            for row in fresh:
                insort(self._rows, row, key=_order)

    def clear(self) -> None:
        """Forget everything (the next window reads the database afresh)."""
        with self._lock:
            self._rows.clear()
            self._keys.clear()
            self._watermark = None


def _updated(row: tuple[datetime, int, str, Quote, QuoteKey]) -> datetime:
    return row[0]


def _order(row: tuple[datetime, int, str, Quote, QuoteKey]) -> tuple[datetime, int]:
    return row[0], row[1]
