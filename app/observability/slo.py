"""The SLOs, defined once: the ledger SQL, the live metric classification and the alert rules
all read these objects. SLIs, error budgets and burn rates are SQL aggregates over the ledger."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Select, and_, case, exists, func, literal, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from app.models import Game, OpportunityRow, PipelineRun, SourceSnapshot, SourceState, StageRun
from app.pipelines.context import MARKET_OPEN_BEFORE_S
from app.rollups.slices import HOUR, ceil_to, settled_before
from app.rollups.slo_hours import hour_rows

COMPLIANCE_WINDOW = timedelta(days=30)
WINDOWS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
}
COLLECTING = ("collection", "full")  # pipelines whose runs are collection ticks
FINISHED = ("succeeded", "partial", "failed")
RELIABILITY_COUNTED = (*FINISHED, "interrupted")  # skipped runs are neither good nor bad


@dataclass(frozen=True, slots=True)
class BurnRule:
    """Alert when the error budget burns `factor` times too fast over both windows."""

    severity: str  # page | ticket
    long: str
    short: str
    factor: float


# Multi-window, multi-burn-rate alerting (Google SRE workbook, chapter 5), with the four
# windows Sloth generates: two that page (2 % and 5 % of the 30-day budget in 1 h and 6 h) and
# two that open a ticket (10 % in a day, 10 % in three days).
BURN_RULES = (
    BurnRule("page", "1h", "5m", 14.4),
    BurnRule("page", "6h", "30m", 6.0),
    BurnRule("ticket", "1d", "2h", 3.0),
    BurnRule("ticket", "3d", "6h", 1.0),
)
# The one severity vocabulary, most urgent first, shared by the alerts, the SLO cards,
# `dugout status` and the Prometheus rules: the two burn-rate levels, then the 30-day error
# budget spent. An SLO with none of them firing is "at risk", "healthy" or has "no data".
ALERT_LEVELS = ("page", "ticket", "budget_exhausted")
SEVERITIES = ALERT_LEVELS
QUIET_LEVELS = ("at_risk", "healthy", "no_data")
LEVEL_WORDS = {
    "page": "page",
    "ticket": "ticket",
    "budget_exhausted": "budget exhausted",
    "at_risk": "at risk",
    "healthy": "healthy",
    "no_data": "no data yet",
}
AT_RISK_BELOW = 0.25  # budget share left under which a quiet SLO is "at risk"


def quiet_level(budget: float | None, events: int) -> str:
    """The level of an SLO no alert fires for: no data, at risk (budget low) or healthy."""
    if not events or budget is None:
        return "no_data"
    return "at_risk" if budget < AT_RISK_BELOW else "healthy"


def shown_level(alerting: Sequence[str], budget: float | None, events: int) -> str:
    """What an SLO's card and status row say: the most urgent level among its firing alerts
    (the stored ones the alert list shows, so the two always agree), else its quiet level;
    a budget the alerts have not yet caught up with reads "at risk", never an alert word."""
    for level in ALERT_LEVELS:
        if level in alerting:
            return level
    return quiet_level(budget, events)


class _shifted(FunctionElement[Any]):
    """`when - seconds`, as a timestamp the column's own index can be compared with."""

    inherit_cache = True


@compiles(_shifted)
def _shifted_default(element: _shifted, compiler: Any, **kw: Any) -> str:
    when, seconds = list(element.clauses)
    return f"({compiler.process(when, **kw)} - make_interval(secs => {compiler.process(seconds, **kw)}))"


@compiles(_shifted, "sqlite")
def _shifted_sqlite(element: _shifted, compiler: Any, **kw: Any) -> str:
    when, seconds = list(element.clauses)
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite; produce the same shape.
    return (
        f"(strftime('%Y-%m-%d %H:%M:%f', {compiler.process(when, **kw)}, "
        f"(0 - {compiler.process(seconds, **kw)}) || ' seconds') || '000')"
    )


def shifted(when: Any, seconds: float) -> ColumnElement[Any]:
    """SQL for `when` minus `seconds`, on PostgreSQL and SQLite."""
    return _shifted(when, literal(float(seconds), Float()))  # type: ignore[return-value]


EventQuery = Callable[["SLO", datetime, datetime, Session], Select[Any]]


@dataclass(frozen=True, slots=True)
class SLO:
    """One objective: what counts as an event, what makes it good, and the target share."""

    name: str
    title: str
    objective: str
    target: float
    threshold_s: float | None
    events: EventQuery = field(repr=False, compare=False)

    @property
    def error_budget(self) -> float:
        """The share of events allowed to be bad."""
        return 1.0 - self.target


def _latency_events(slo: SLO, since: datetime, until: datetime, _: Session) -> Select[Any]:
    assert slo.threshold_s is not None
    r = PipelineRun
    return select(
        r.started_at.label("at"),
        case((r.duration_ms >= slo.threshold_s * 1000, 1), else_=0).label("bad"),
    ).where(
        r.pipeline.in_(COLLECTING),
        r.status.in_(FINISHED),
        r.started_at >= since,
        r.started_at <= until,
    )


def _reliability_events(slo: SLO, since: datetime, until: datetime, _: Session) -> Select[Any]:
    r = PipelineRun
    return select(
        r.started_at.label("at"), case((r.status == "succeeded", 0), else_=1).label("bad")
    ).where(r.status.in_(RELIABILITY_COUNTED), r.started_at >= since, r.started_at <= until)


def _detection_events(slo: SLO, since: datetime, until: datetime, _: Session) -> Select[Any]:
    assert slo.threshold_s is not None
    o = OpportunityRow
    return select(
        o.detected_at.label("at"),
        case((o.latency_ms > slo.threshold_s * 1000, 1), else_=0).label("bad"),
    ).where(o.detected_at >= since, o.detected_at <= until)


def _freshness_events(slo: SLO, since: datetime, until: datetime, session: Session) -> Select[Any]:
    """A collection tick is good when some source had data younger than the threshold: a
    snapshot fetched by then whose newest update is within the threshold of the tick. A tick
    that succeeded and received nothing while no game was due within MARKET_OPEN_BEFORE_S
    (overnight, an off day) is not an event; a tick whose sources failed, or that received
    nothing while a game was due (an empty feed), always is."""
    assert slo.threshold_s is not None
    r, s, st, g = PipelineRun, SourceSnapshot, StageRun, Game
    sources = list(session.scalars(select(SourceState.source))) or [""]
    fresh = exists().where(
        s.source.in_(sources),  # lets the (source, fetched_at) index serve the range below
        s.fetched_at <= r.started_at,
        s.fetched_at >= shifted(r.started_at, slo.threshold_s),
        s.newest_update_at > shifted(r.started_at, slo.threshold_s),
    )
    received_nothing = exists().where(
        st.run_id == r.id,
        st.stage == "collect",
        st.status == "succeeded",
        st.records_in == 0,
    )
    game_due = exists().where(
        g.status == "scheduled",
        g.commence_time > r.started_at,
        g.commence_time <= shifted(r.started_at, -MARKET_OPEN_BEFORE_S),
    )
    market_closed = and_(received_nothing, ~game_due)
    return select(r.started_at.label("at"), case((fresh, 0), else_=1).label("bad")).where(
        r.pipeline.in_(COLLECTING),
        r.status.in_(FINISHED),
        r.started_at >= since,
        r.started_at <= until,
        ~market_closed,
    )


SLOS: tuple[SLO, ...] = (
    SLO(
        "pipeline_latency",
        "Pipeline latency",
        "P99 collection run duration under 30 s (99% of collection runs finish within 30 s)",
        0.99,
        30.0,
        _latency_events,
    ),
    SLO(
        "pipeline_reliability",
        "Pipeline reliability",
        "99.5% of pipeline runs succeed",
        0.995,
        None,
        _reliability_events,
    ),
    SLO(
        "opportunity_detection",
        "Opportunity detection",
        "95% of opportunities detected within 60 s of their data becoming available",
        0.95,
        60.0,
        _detection_events,
    ),
    SLO(
        "data_freshness",
        "Data freshness",
        "95% of collection ticks with a market open see data younger than 60 s",
        0.95,
        60.0,
        _freshness_events,
    ),
)
SLO_BY_NAME = {s.name: s for s in SLOS}


# --- live classification, used by the metrics observer (same thresholds as the SQL) ---------


def market_open(collect: Any) -> bool:
    """Whether a finished collect stage counts for freshness: the stage marks `market_closed`
    exactly when the SQL above leaves the tick out (nothing received, no source failed, no
    game due)."""
    return not collect.detail.get("market_closed")


def run_latency_good(duration_s: float) -> bool:
    """A collection run is good when it finished under the latency threshold."""
    return duration_s < (SLO_BY_NAME["pipeline_latency"].threshold_s or 0)


def run_reliability_good(status: str) -> bool | None:
    """True/False for a counted run, None for a run the reliability SLO ignores (skipped)."""
    return status == "succeeded" if status in RELIABILITY_COUNTED else None


def detection_good(latency_s: float) -> bool:
    """An opportunity is good when it was detected within the threshold."""
    return latency_s <= (SLO_BY_NAME["opportunity_detection"].threshold_s or 0)


def freshness_good(age_s: float | None) -> bool:
    """A tick is good when its freshest data is younger than the threshold."""
    return age_s is not None and age_s < (SLO_BY_NAME["data_freshness"].threshold_s or 0)


# --- reports from the ledger ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SloReport:
    """One SLO evaluated at `now`: SLI and budget over 30 days, burn rate per window."""

    slo: SLO
    now: datetime
    counts: dict[str, tuple[int, int]]  # window -> (events, bad events); "30d" included

    @property
    def total(self) -> int:
        """Events in the compliance window."""
        return self.counts["30d"][0]

    @property
    def bad(self) -> int:
        """Bad events in the compliance window."""
        return self.counts["30d"][1]

    @property
    def sli(self) -> float | None:
        """Share of good events over 30 days; None with no events."""
        return (self.total - self.bad) / self.total if self.total else None

    @property
    def error_budget_remaining(self) -> float | None:
        """1 = untouched, 0 = spent, below 0 = overspent; None with no events."""
        return 1.0 - self.burn_rate("30d") if self.total else None

    def burn_rate(self, window: str) -> float:
        """Error rate over `window` divided by the error budget; 0 with no events."""
        total, bad = self.counts[window]
        return (bad / total) / self.slo.error_budget if total else 0.0

    def firing_rules(self) -> list[BurnRule]:
        """The burn-rate rules whose long and short windows both exceed their factor."""
        return [
            rule
            for rule in BURN_RULES
            if self.burn_rate(rule.long) > rule.factor and self.burn_rate(rule.short) > rule.factor
        ]

    def firing(self, severity: str) -> bool:
        """Whether any rule of this level fires: a burn-rate rule of that severity, or for
        budget_exhausted the 30-day error budget spent."""
        if severity == "budget_exhausted":
            budget = self.error_budget_remaining
            return budget is not None and budget <= 0
        return any(rule.severity == severity for rule in self.firing_rules())

    @property
    def level(self) -> str:
        """The most urgent firing level, else the quiet level (live, from the ledger)."""
        for level in ALERT_LEVELS:
            if self.firing(level):
                return level
        return quiet_level(self.error_budget_remaining, self.total)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the API, the CLI and the pages."""
        return {
            "name": self.slo.name,
            "title": self.slo.title,
            "objective": self.slo.objective,
            "target": self.slo.target,
            "threshold_s": self.slo.threshold_s,
            "window_days": COMPLIANCE_WINDOW.days,
            "events": self.total,
            "bad_events": self.bad,
            "sli": self.sli,
            "error_budget_remaining": self.error_budget_remaining,
            "burn_rates": {w: round(self.burn_rate(w), 4) for w in WINDOWS},
            "firing": {sev: self.firing(sev) for sev in ALERT_LEVELS},
            "level": self.level,
        }


def window_counts(session: Session, slo: SLO, now: datetime) -> dict[str, tuple[int, int]]:
    """Events and bad events per window: whole settled hours from the hourly rollup (hours
    it has not stored yet counted on the ledger), the window's first partial hour and the
    unsettled tail from the ledger. Reads only."""
    spans = {"30d": COMPLIANCE_WINDOW, **WINDOWS}
    settled = settled_before(now, HOUR)

    def events(since: datetime, until: datetime) -> Select[Any]:
        return slo.events(slo, since, until, session)

    tail = events(settled, now).subquery()
    columns = []
    for delta in spans.values():
        inside = tail.c.at >= max(now - delta, settled)
        columns.append(func.coalesce(func.sum(case((inside, 1), else_=0)), 0))
        columns.append(
            func.coalesce(func.sum(case((and_(inside, tail.c.bad == 1), 1), else_=0)), 0)
        )
    values = [int(v or 0) for v in session.execute(select(*columns)).one()]
    counts = {name: (values[2 * i], values[2 * i + 1]) for i, name in enumerate(spans)}
    heads = {  # window -> its first partial hour [since, first whole hour)
        name: (now - delta, ceil_to(now - delta, HOUR))
        for name, delta in spans.items()
        if now - delta < settled
    }
    if not heads:
        return counts
    # the partial first hours of every window in one round trip, each bounded on its own
    parts = []
    for i, (since, first) in enumerate(heads.values()):
        part = events(since, first).subquery()
        parts.append(
            select(literal(i).label("w"), part.c.bad.label("bad")).where(
                part.c.at >= since, part.c.at < first
            )
        )
    both = union_all(*parts).subquery()
    partial = {
        int(w): (int(n), int(bad or 0))
        for w, n, bad in session.execute(
            select(both.c.w, func.count(), func.sum(both.c.bad)).group_by(both.c.w)
        )
    }
    lo = min(since for since, _ in heads.values())
    # the whole hours of every window from one read of the hourly rollup of the longest
    hours = hour_rows(session, slo.name, events, ceil_to(lo, HOUR), settled)
    for i, (name, (_since, first)) in enumerate(heads.items()):
        n = sum(r[1] for r in hours if r[0] >= first)
        bad = sum(r[2] for r in hours if r[0] >= first)
        total = counts[name]
        head_n, head_bad = partial.get(i, (0, 0))
        counts[name] = (total[0] + head_n + n, total[1] + head_bad + bad)
    return counts


def slo_report(session: Session, slo: SLO, now: datetime) -> SloReport:
    """One SLO evaluated from the ledger at `now`."""
    return SloReport(slo, now, window_counts(session, slo, now))


def slo_reports(session: Session, now: datetime) -> list[SloReport]:
    """Every SLO evaluated from the ledger at `now`."""
    return [slo_report(session, slo, now) for slo in SLOS]
