"""What a pipeline run needs, handed in: sessions, a clock, settings, sources and strategies."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.pipelines.history import QuoteHistory


def system_clock() -> datetime:
    """The real time, aware UTC."""
    return datetime.now(UTC)


# A game this close to first pitch has its betting markets up: a source that answers with
# nothing while one is due is failing, not idle (the freshness SLO counts such ticks).
MARKET_OPEN_BEFORE_S = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Knobs of the pipelines themselves (thresholds of strategies live in StrategyConfig)."""

    bankroll_units: float = 100.0
    stale_after_s: float = 300.0  # a source whose newest quote is older than this is stale
    splits_stale_after_s: float = 3600.0  # splits move slowly: stale after an hour
    kelly_game_cap: float = 0.04  # share of the bankroll on all of one game's bets together
    lookback_s: float = 3 * 3600.0  # quote / split history the strategies see
    horizon_s: float = 36 * 3600.0  # games further ahead than this are ignored


class RunObserver:
    """Hooks the runner calls as a run goes; metrics and alerts subclass it. Defaults do nothing.

    Observers must be cheap and must not raise: the runner logs and ignores their errors.
    """

    def run_started(self, run_id: Any, pipeline: str, trigger: str) -> None:
        """A run row was written and work is about to start."""

    def run_opened(
        self,
        run_id: Any,
        pipeline: str,
        trigger: str,
        scheduled_for: datetime | None,
        started_at: datetime,
    ) -> None:
        """Right after run_started: when the run began and the tick it was scheduled for."""

    def stage_finished(
        self, run_id: Any, pipeline: str, stage: str, outcome: StageOutcome, duration_s: float
    ) -> None:
        """A stage ended (or was skipped) with this outcome."""

    def run_finished(
        self, run_id: Any, pipeline: str, trigger: str, status: str, duration_s: float
    ) -> None:
        """The run ended with this status."""

    def source_collected(
        self,
        source: str,
        counts: dict[str, Any],
        freshness_s: float | None,
        quota_remaining: int | None,
        rejected_reasons: dict[str, int],
    ) -> None:
        """One source was collected: counts, data age, quota left, quarantined rows by reason."""

    def source_failed(self, source: str, error_type: str) -> None:
        """One source failed with a typed error."""

    def opportunities_found(self, rows: Sequence[dict[str, Any]]) -> None:
        """New opportunities were stored (rows as inserted: strategy, ev, latency_ms, ...)."""


@dataclass(slots=True)
class PipelineContext:
    """Everything a run needs; the domain gets it handed in and imports no web code."""

    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = system_clock
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    sources: Sequence[Any] = ()  # app.pipelines.sources.base.Source
    strategies: Sequence[Any] = ()  # app.pipelines.strategies.base.Strategy
    # Newest last_update stored per (source, game, market, side, book): skips unchanged prices.
    seen_quotes: dict[tuple[str, str, str, str, str], datetime] = field(default_factory=dict)
    # Mark of the games and scores last stored per source: unchanged ones are not written again.
    seen_games: dict[str, int] = field(default_factory=dict)
    # Per source, the split versions (game, market, side, as_of) of its last stored batch.
    seen_splits: dict[str, set[tuple[str, str, str, datetime]]] = field(default_factory=dict)
    observers: Sequence[RunObserver] = ()
    history: QuoteHistory = field(default_factory=QuoteHistory)
    # Per game, what the strategies found at the previous tick (app.pipelines.analysis_memo);
    # None: every tick analyses every game afresh.
    analysis_memo: Any = None
    # A replay's splits window (app.pipelines.history.SplitWindow), fed with what it stores:
    # only for a writer that stores every split its reads need. None: splits are read.
    split_window: Any = None
    # Per-source resilience: waits between retries go through `sleep` (tests advance a clock);
    # `breakers` is the database-backed breaker book (None: no breaker, e.g. a bare context).
    sleep: Callable[[float], None] = time.sleep
    breakers: Any = None  # app.pipelines.resilience.SourceBreakers
    alerts: Any = None  # raise_(key, title, message, ...) / resolve(key), e.g. scheduler AlertBook
    source_retry: Any = None  # app.pipelines.resilience.SourceRetryPolicy (None: default)
    house_rules: Any = None  # app.pipelines.house_rules.HouseRules (None: the US default)
    quota_plan: Any = None  # app.pipelines.quota.QuotaPlan (None: no plan, poll every tick)

    def notify(self, hook: str, *args: Any) -> None:
        """Call `hook` on every observer; an observer's error is logged, never raised."""
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:
                logging.getLogger("dugout.pipelines").exception("observer %s failed", hook)


@dataclass(slots=True)
class StageOutcome:
    """What a stage reports: status, records in/out, a typed error and details for the ledger."""

    status: str = "succeeded"  # succeeded | failed | partial | skipped
    records_in: int = 0
    records_out: int = 0
    error_type: str | None = None
    error_message: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The compact form kept on the run row."""
        out: dict[str, Any] = {
            "status": self.status,
            "in": self.records_in,
            "out": self.records_out,
        }
        if self.error_message:
            out["error"] = self.error_message[:300]
        for key in (
            "failed_sources",
            "stale_sources",
            "deferred_sources",
            "market_closed",
            "reason",
            "opportunities",
            "by_strategy",
        ):
            if key in self.detail:
                out[key] = self.detail[key]
        return out
