"""The rollup keeper: stores every settled slice the pages read, so the first reader of any
window pays what the hundredth does. It refreshes at start-up, right after each commit that
forgot stored slices, and every `poll_s` (slices settle as time passes, and other processes
write too); `dugout demo seed` and the benchmarks call `refresh_all` after their batches."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.observability.slo import COMPLIANCE_WINDOW, SLOS
from app.queries.run_charts import ROLLED_BUCKETS
from app.queries.run_grid import ROLLED_SLOTS
from app.rollups import (
    bet_totals,
    grade_blocks,
    grade_days,
    grade_splits,
    grid_slots,
    run_buckets,
    run_days,
    slo_hours,
)
from app.rollups.invalidation import on_forgotten

log = logging.getLogger("dugout.rollups")
SLO_REACH = COMPLIANCE_WINDOW + timedelta(hours=1)  # every window's whole hours


def refresh_all(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Store every settled slice that is missing, section by section; slices stored each."""
    stored: dict[str, int] = {}
    sections: dict[str, Callable[[Session], int]] = {
        "run_days": lambda s: run_days.refresh(s, now),
        "run_buckets": lambda s: run_buckets.refresh(s, now, ROLLED_BUCKETS),
        "grid_slots": lambda s: grid_slots.refresh(s, now, ROLLED_SLOTS),
        "slo_hours": lambda s: slo_hours.refresh(s, now, SLOS, SLO_REACH),
        "grade_days": lambda s: grade_days.refresh(s, now),
        "grade_splits": lambda s: grade_splits.refresh(s, now),
        "grade_blocks": lambda s: grade_blocks.refresh(s, now),  # from the days just stored
        "bet_totals": lambda s: bet_totals.refresh(s, now),
    }
    for name, section in sections.items():
        with sessions() as session:
            stored[name] = section(session)
            session.commit()
    return stored


class RollupKeeper:
    """Keeps one database's rollups current from a daemon thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utcnow,
        poll_s: float = 60.0,
    ) -> None:
        self.sessions, self.clock, self.poll_s = sessions, clock, poll_s
        self.passes = 0  # refreshes finished, for whoever waits on one
        self.last_error: str | None = None
        self.warmed = False  # the SLO statements compiled once (see warm)
        self.warmed_at: datetime | None = None  # the moment warm read at
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        engine = sessions.kw.get("bind")
        if engine is not None:
            on_forgotten(engine, self.wake)

    def start(self) -> None:
        """Refresh now in the background, then keep refreshing until stopped."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="rollup-keeper", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Ask for a refresh as soon as the thread is free."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread, letting a refresh in progress finish its chunk."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def refresh(self) -> dict[str, int]:
        """One refresh in the calling thread (one at a time per keeper)."""
        with self._lock:
            stored = refresh_all(self.sessions, self.clock())
            self.passes += 1
            self.last_error = None
        return stored

    def warm(self) -> None:
        """Evaluate every SLO and read the defaults of the overview, strategies and bets pages
        once, so the statements the first page runs are compiled (and cached by the engine)
        before the first reader asks: its first call costs what the next one does. Reads
        only."""
        from app.observability.slo import slo_reports
        from app.queries.bets import BetFilter, bet_books, bets
        from app.queries.run_charts import WINDOWS, latency_series, success_series
        from app.queries.runs import pipeline_summaries, recent_runs
        from app.queries.sources import source_freshness
        from app.queries.strategies import strategy_charts
        from app.queries.strategy_stats import strategy_stats

        now = self.clock()
        with self.sessions() as session:
            slo_reports(session, now)
            for window in ("24h",):  # the overview's default
                pipeline_summaries(session, now - WINDOWS[window], now)
                latency_series(session, now, window)
                success_series(session, now, window)
            recent_runs(session, limit=15)
            source_freshness(session, now)
            strategy_stats(session, None, now=now)  # the strategies page's default window
            strategy_charts(session, now, None)
            bets(session, BetFilter(), now, limit=1)  # the bets page's statements
            bet_books(session)
        self.warmed_at = now
        self.warmed = True

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                stored = self.refresh()
                if any(stored.values()):
                    log.info("rollups refreshed", extra={"stored": stored})
                if not self.warmed:
                    self.warm()
            except Exception as exc:  # a busy or lost database: the next pass tries again
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("rollup refresh failed", extra={"error": self.last_error})
            self._wake.wait(self.poll_s)
