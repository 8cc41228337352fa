"""Run observers: MetricsObserver feeds the pipeline, data and business metrics and the SLO
event counters; AlertingObserver evaluates the SLO alerts at most once a minute after runs.

When the collect / analyze stages call `source_collected` / `opportunities_found`, those hooks
are used; when a run ends a stage without them, the same figures are read back from the rows
that run just wrote (one indexed query each), so the metrics never depend on the wiring.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.extensions import OBSERVERS
from app.models import OpportunityRow, QuarantinedRow, SourceState
from app.observability.metrics import DugoutMetrics
from app.observability.slo import (
    COLLECTING,
    FINISHED,
    detection_good,
    freshness_good,
    market_open,
    run_latency_good,
    run_reliability_good,
)
from app.pipelines.context import RunObserver, StageOutcome, system_clock

log = logging.getLogger("dugout.metrics")
_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"|[-+]?\d+(?:\.\d+)?")
MAX_REASONS = 200  # distinct quarantine reasons kept as labels; the rest count as "other"


@dataclass(slots=True)
class _RunState:
    run_id: Any
    started_at: datetime | None = None
    saw_sources: bool = False
    saw_opportunities: bool = False
    freshest_s: float | None = None


class MetricsObserver(RunObserver):
    """Turns run events into metric samples; needs the session factory only for fallbacks."""

    def __init__(
        self,
        metrics: DugoutMetrics,
        sessions: sessionmaker[Session] | None = None,
        *,
        clock: Callable[[], datetime] = system_clock,
        bankroll_units: float = 100.0,
    ) -> None:
        self.metrics, self.sessions, self.clock = metrics, sessions, clock
        self.bankroll_units = bankroll_units
        self._local = threading.local()
        self._reasons: set[tuple[str, str]] = set()

    def _run(self) -> _RunState | None:
        return getattr(self._local, "run", None)

    def run_started(self, run_id: Any, pipeline: str, trigger: str) -> None:
        """Count the run in progress."""
        self.metrics.child(self.metrics.runs_in_progress, pipeline).inc()
        self._local.run = _RunState(run_id)

    def run_opened(
        self,
        run_id: Any,
        pipeline: str,
        trigger: str,
        scheduled_for: datetime | None,
        started_at: datetime,
    ) -> None:
        """Dispatch lag and retries, from what the runner wrote (no read back of the row)."""
        state = self._run()
        if state is not None:
            state.started_at = started_at
        if scheduled_for is not None:
            if scheduled_for.tzinfo is None:  # stored ticks are UTC
                scheduled_for = scheduled_for.replace(tzinfo=UTC)
            lag = (started_at - scheduled_for).total_seconds()
            self.metrics.child(self.metrics.dispatch_lag, pipeline).observe(max(0.0, lag))
        if trigger == "retry":  # the dispatcher's trigger for every attempt after the first
            self.metrics.retries.labels(pipeline).inc()

    def stage_finished(
        self, run_id: Any, pipeline: str, stage: str, outcome: StageOutcome, duration_s: float
    ) -> None:
        """Stage counters and durations; collection and analysis figures for the run."""
        m = self.metrics
        m.child(m.stages, pipeline, stage, outcome.status).inc()
        if outcome.status != "skipped":
            m.child(m.stage_duration, stage).observe(duration_s)
        state = self._run()
        if stage == "collect":
            for source, error in (outcome.detail.get("failed_sources") or {}).items():
                self.metrics.source_errors.labels(source, str(error).split(":", 1)[0]).inc()
            if state is not None and not state.saw_sources:
                self._collect_from_ledger(run_id, state)
            if market_open(outcome):
                freshest = state.freshest_s if state is not None else None
                self.metrics.slo_event("data_freshness", freshness_good(freshest))
        elif (
            stage == "analyze"
            and outcome.status != "skipped"
            and state is not None
            and not state.saw_opportunities
        ):
            self._opportunities_from_ledger(run_id, state)

    def run_finished(
        self, run_id: Any, pipeline: str, trigger: str, status: str, duration_s: float
    ) -> None:
        """Run counters and duration; latency and reliability SLO events."""
        m = self.metrics
        m.child(m.runs, pipeline, status, trigger).inc()
        m.child(m.runs_in_progress, pipeline).dec()
        if status != "skipped":
            m.child(m.run_duration, pipeline).observe(duration_s)
        if pipeline in COLLECTING and status in FINISHED:
            m.slo_event("pipeline_latency", run_latency_good(duration_s))
        good = run_reliability_good(status)
        if good is not None:
            m.slo_event("pipeline_reliability", good)
        self._local.run = None

    def source_collected(
        self,
        source: str,
        counts: dict[str, Any],
        freshness_s: float | None,
        quota_remaining: int | None,
        rejected_reasons: dict[str, int],
    ) -> None:
        """Quarantined rows by reason and the freshest data of this tick."""
        state = self._run()
        if state is not None:
            state.saw_sources = True
            if freshness_s is not None and (
                state.freshest_s is None or freshness_s < state.freshest_s
            ):
                state.freshest_s = freshness_s
        for reason, n in rejected_reasons.items():
            self._quarantined(source, reason, n)

    def source_failed(self, source: str, error_type: str) -> None:
        """Counted from the collect stage's outcome, which names every failed source."""

    def opportunities_found(self, rows: Sequence[dict[str, Any]]) -> None:
        """Opportunities, detection latency, value identified and detection SLO events."""
        state = self._run()
        if state is not None:
            state.saw_opportunities = True
        for row in rows:
            self._opportunity(
                row["strategy"],
                float(row["latency_ms"]) / 1000,
                float(row["ev"]),
                float(row["kelly_fraction"]),
            )

    # --- helpers -----------------------------------------------------------------------------

    def _opportunity(self, strategy: str, latency_s: float, ev: float, kelly: float) -> None:
        m = self.metrics
        m.opportunities.labels(strategy).inc()
        m.detection_latency.labels(strategy).observe(latency_s)
        value = ev * kelly * self.bankroll_units
        if value > 0:
            m.value_identified.labels(strategy).inc(value)
        m.slo_event("opportunity_detection", detection_good(latency_s))

    def _quarantined(self, source: str, reason: str, n: int) -> None:
        label = (source, reason_label(reason))
        if label not in self._reasons:
            if len(self._reasons) >= MAX_REASONS:
                label = (source, "other")
            else:
                self._reasons.add(label)
        self.metrics.quarantined.labels(*label).inc(n)

    def _collect_from_ledger(self, run_id: Any, state: _RunState) -> None:
        if self.sessions is None or state.started_at is None:
            return
        q = QuarantinedRow
        with self.sessions() as session:
            newest = session.scalar(select(func.max(SourceState.newest_update_at)))
            rejected = session.execute(
                select(q.source, q.reason, func.count())
                .where(q.created_at >= state.started_at, q.run_id == run_id)
                .group_by(q.source, q.reason)
            ).all()
        if newest is not None:
            state.freshest_s = max(0.0, (state.started_at - newest).total_seconds())
        for source, reason, n in rejected:  # the same labels as source_collected gives
            self._quarantined(source, reason, int(n))

    def _opportunities_from_ledger(self, run_id: Any, state: _RunState) -> None:
        if self.sessions is None or state.started_at is None:
            return
        o = OpportunityRow
        with self.sessions() as session:
            rows = session.execute(
                select(o.strategy, o.latency_ms, o.ev, o.kelly_fraction).where(
                    o.detected_at >= state.started_at, o.run_id == run_id
                )
            ).all()
        for strategy, latency_ms, ev, kelly in rows:
            self._opportunity(strategy, latency_ms / 1000, ev, kelly)


def reason_label(reason: str) -> str:
    """A quarantine reason with its values blanked, so labels stay few: 'price {} is zero'."""
    return _VALUE.sub("{}", reason).strip()[:80] or "unspecified"


class AlertingObserver(RunObserver):
    """Evaluates SLO alerts after a run, at most once per `interval_s` of the injected clock."""

    def __init__(
        self,
        evaluate: Callable[[datetime], Any],
        *,
        clock: Callable[[], datetime] = system_clock,
        interval_s: float = 60.0,
    ) -> None:
        self.evaluate, self.clock, self.interval_s = evaluate, clock, interval_s
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def run_finished(
        self, run_id: Any, pipeline: str, trigger: str, status: str, duration_s: float
    ) -> None:
        """Evaluate when the last evaluation is older than the interval."""
        now = self.clock()
        with self._lock:
            if self._last is not None and (now - self._last).total_seconds() < self.interval_s:
                return
            self._last = now
        self.evaluate(now)


def register_observer(app: Any, observer: Any) -> None:
    """Add a run observer (metrics, alerts) to every pipeline run of this app (a Flask app)."""
    OBSERVERS.setdefault(app, []).append(observer)
