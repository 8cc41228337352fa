"""Gauges read from the database at scrape time: freshness, quota, breakers, the scheduler
lease, queue depth, strategy performance, SLOs and firing alerts. Every worker reports the same
values, and a failing database makes the scrape say so (dugout_ledger_up 0) instead of failing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import Alert, AuditRecord, CircuitBreaker, QueuedJob, SchedulerLease, SourceState
from app.observability.slo import WINDOWS, slo_reports
from app.pipelines.context import system_clock
from app.queries.strategies import strategy_performance

log = logging.getLogger("dugout.metrics")
BREAKER_STATES = ("closed", "half_open", "open")
# Audit actions that are sign-in and account housekeeping, not break-glass operations.
NOT_BREAK_GLASS = (
    "login",
    "logout",
    "open_page",
    "csrf_check",
    "cross_site_request",
    "verify_audit_chain",
    "demo_seed",
)


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class LedgerCollector(Collector):
    """A custom collector over the database, cached for `ttl_s` so scrapes stay cheap."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = system_clock,
        ttl_s: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions, self.clock, self.ttl_s, self.monotonic = sessions, clock, ttl_s, monotonic
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._cached_at: float | None = None

    def collect(self) -> Iterator[Metric]:
        """The cached families, refreshed when older than the TTL."""
        with self._lock:
            now = self.monotonic()
            if self._cached_at is None or now - self._cached_at >= self.ttl_s:
                self._cached = self._read()
                self._cached_at = now
            families = list(self._cached)
        yield from families

    def _read(self) -> list[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily("dugout_ledger_up", "1 when the last database read worked.")
        families: list[Metric] = []
        try:
            with self.sessions() as session:
                now = self.clock()
                families += self._sources(session, now)
                families += self._control(session, now)
                families += self._strategies(session, now)
                families += self._slos(session, now)
                session.commit()  # keep the rollup slices this read computed
            up.add_metric([], 1.0)
        except Exception:  # a scrape must answer even when the database does not
            log.exception("ledger metrics read failed")
            families, up = [], GaugeMetricFamily("dugout_ledger_up", up.documentation)
            up.add_metric([], 0.0)
        took = GaugeMetricFamily("dugout_ledger_read_seconds", "Time to read the ledger gauges.")
        took.add_metric([], time.perf_counter() - started)
        return [*families, up, took]

    def _sources(self, session: Session, now: datetime) -> list[Metric]:
        fresh = _gauge(
            "dugout_source_freshness_seconds", "Age of the newest data per source.", ["source"]
        )
        quota = _gauge("dugout_source_quota_remaining", "API requests left per source.", ["source"])
        healthy = _gauge(
            "dugout_source_up", "1 when the last fetch of the source worked.", ["source"]
        )
        for s in session.scalars(select(SourceState)):
            if s.newest_update_at is not None:
                fresh.add_metric([s.source], max(0.0, (now - s.newest_update_at).total_seconds()))
            if s.quota_remaining is not None:
                quota.add_metric([s.source], float(s.quota_remaining))
            healthy.add_metric([s.source], 0.0 if s.last_error_type else 1.0)
        return [fresh, quota, healthy]

    def _control(self, session: Session, now: datetime) -> list[Metric]:
        breaker = _gauge(
            "dugout_circuit_breaker_state", "1 for the state each breaker is in.", ["name", "state"]
        )
        for b in session.scalars(select(CircuitBreaker)):
            for state in BREAKER_STATES:
                breaker.add_metric([b.name, state], 1.0 if b.state == state else 0.0)
        leader = _gauge(
            "dugout_scheduler_leader", "1 when a scheduler holds an unexpired lease.", []
        )
        age = _gauge(
            "dugout_scheduler_heartbeat_age_seconds",
            "Seconds since the scheduler leader's last heartbeat.",
            [],
        )
        lease = session.scalars(
            select(SchedulerLease).order_by(SchedulerLease.heartbeat_at.desc()).limit(1)
        ).first()
        alive = bool(
            lease and lease.holder and (lease.expires_at is None or lease.expires_at > now)
        )
        leader.add_metric([], 1.0 if alive else 0.0)
        if lease is not None and lease.heartbeat_at is not None:
            age.add_metric([], max(0.0, (now - lease.heartbeat_at).total_seconds()))
        queue = _gauge(
            "dugout_job_queue_depth", "Runs waiting in the database queue.", ["pipeline"]
        )
        for pipeline, n in session.execute(
            select(QueuedJob.pipeline, func.count())
            .where(QueuedJob.status == "queued")
            .group_by(QueuedJob.pipeline)
        ):
            queue.add_metric([pipeline], float(n))
        actions = CounterMetricFamily(
            "dugout_break_glass_actions",
            "Break-glass actions by action and outcome (audit log).",
            labels=["action", "outcome"],
        )
        for action, outcome, n in session.execute(
            select(AuditRecord.action, AuditRecord.outcome, func.count())
            .where(
                AuditRecord.action.not_in(NOT_BREAK_GLASS), AuditRecord.action.not_like("user_%")
            )
            .group_by(AuditRecord.action, AuditRecord.outcome)
        ):
            actions.add_metric([action, outcome], float(n))
        return [breaker, leader, age, queue, actions]

    def _strategies(self, session: Session, now: datetime) -> list[Metric]:
        roi = _gauge("dugout_strategy_roi", "Profit over stake of graded bets.", ["strategy"])
        hit = _gauge("dugout_strategy_hit_rate", "Wins over decided bets.", ["strategy"])
        clv = _gauge("dugout_strategy_clv", "Mean closing line value.", ["strategy"])
        bets = _gauge("dugout_strategy_graded_bets", "Settled bets.", ["strategy"])
        for p in strategy_performance(session, now):
            bets.add_metric([p.strategy], float(p.bets))
            for family, value in ((roi, p.roi), (hit, p.hit_rate), (clv, p.avg_clv)):
                if value is not None:
                    family.add_metric([p.strategy], float(value))
        return [roi, hit, clv, bets]

    def _slos(self, session: Session, now: datetime) -> list[Metric]:
        target = _gauge(
            "dugout_slo_target", "The objective's target share of good events.", ["slo"]
        )
        sli = _gauge("dugout_slo_sli", "Share of good events over 30 days (ledger).", ["slo"])
        budget = _gauge(
            "dugout_slo_error_budget_remaining",
            "Error budget left over 30 days (1 untouched, below 0 overspent).",
            ["slo"],
        )
        burn = _gauge(
            "dugout_slo_burn_rate", "Error rate over the window / error budget.", ["slo", "window"]
        )
        for report in slo_reports(session, now):
            name = report.slo.name
            target.add_metric([name], report.slo.target)
            if report.sli is not None:
                sli.add_metric([name], report.sli)
            if report.error_budget_remaining is not None:
                budget.add_metric([name], report.error_budget_remaining)
            for window in WINDOWS:
                burn.add_metric([name, window], report.burn_rate(window))
        firing = _gauge("dugout_alerts_firing", "Stored alerts now firing.", ["severity"])
        counts: dict[str, int] = dict.fromkeys(("page", "ticket", "info"), 0)
        for severity, n in session.execute(
            select(Alert.severity, func.count())
            .where(Alert.status == "firing")
            .group_by(Alert.severity)
        ):
            counts[severity] = int(n)
        for severity, n in counts.items():
            firing.add_metric([severity], float(n))
        return [target, sli, budget, burn, firing]
