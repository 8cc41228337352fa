"""Quote history kept in memory between ticks: each tick reads only the rows collected since."""

from __future__ import annotations

import threading
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
    """The lookback window of quotes for every source, refreshed incrementally."""

    def __init__(self) -> None:
        self._rows: dict[QuoteKey, tuple[str, Quote]] = {}
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
            kept: dict[QuoteKey, tuple[str, Quote]] = {}
            quotes: list[Quote] = []
            for key, (src, quote) in self._rows.items():  # one pass: prune and select
                if quote.last_update >= since:
                    kept[key] = (src, quote)
                    if src in wanted and quote.last_update <= now:
                        quotes.append(quote)
            self._rows = kept
        quotes.sort(key=lambda q: q.last_update)  # nearly sorted already: close to linear
        return quotes

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
        for src, game, market, side, book, price, point, last_update, collected in session.execute(
            query
        ):
            key = (src, game, market, side, book, last_update)
            if key not in self._rows:
                self._rows[key] = (src, Quote(game, market, side, book, price, point, last_update))
            if collected <= now and (newest is None or collected > newest):
                newest = collected
        self._watermark = newest

    def clear(self) -> None:
        """Forget everything (the next window reads the database afresh)."""
        with self._lock:
            self._rows.clear()
            self._watermark = None
