"""The SLOs, defined once: the ledger SQL, the live metric classification and the alert rules
all read these objects. SLIs, error budgets and burn rates are SQL aggregates over the ledger."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    join,
    literal,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.sql.visitors import iterate

from app.models import (
    Game,
    OpportunityRow,
    PipelineRun,
    RollupSloHour,
    SourceSnapshot,
    SourceState,
    StageRun,
)
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


# (slo, since, until, sources) -> a select of (at, bad) events in [since, until]; the moments may
# be datetimes or bind parameters, `sources` the names fresh data may come from (a list, or the
# expanding bind parameter SOURCES) for the SLOs that read them
EventQuery = Callable[["SLO", Any, Any, Any], Select[Any]]
SOURCES: BindParameter[Any] = bindparam("sources", expanding=True)


def source_names(session: Session) -> list[str]:
    """The sources fresh data may come from ([""] when none is known: an IN list never empty)."""
    return list(session.scalars(select(SourceState.source))) or [""]


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

    def between(self, session: Session, since: datetime, until: datetime) -> Select[Any]:
        """A select of the events in [since, until], the sources read now if it reads them."""
        sources = source_names(session) if reads_sources(self) else []
        return self.events(self, since, until, sources)


@functools.cache
def reads_sources(slo: SLO) -> bool:
    """Whether the SLO's events depend on the known sources (its statement binds SOURCES)."""
    statement = slo.events(slo, bindparam("since"), bindparam("until"), SOURCES)
    return any(isinstance(e, BindParameter) and e.key == SOURCES.key for e in iterate(statement))


def _latency_events(slo: SLO, since: Any, until: Any, _: Any) -> Select[Any]:
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


def _reliability_events(slo: SLO, since: Any, until: Any, _: Any) -> Select[Any]:
    r = PipelineRun
    return select(
        r.started_at.label("at"), case((r.status == "succeeded", 0), else_=1).label("bad")
    ).where(r.status.in_(RELIABILITY_COUNTED), r.started_at >= since, r.started_at <= until)


def _detection_events(slo: SLO, since: Any, until: Any, _: Any) -> Select[Any]:
    assert slo.threshold_s is not None
    o = OpportunityRow
    return select(
        o.detected_at.label("at"),
        case((o.latency_ms > slo.threshold_s * 1000, 1), else_=0).label("bad"),
    ).where(o.detected_at >= since, o.detected_at <= until)


def _freshness_events(slo: SLO, since: Any, until: Any, sources: Any) -> Select[Any]:
    """A collection tick is good when some source had data younger than the threshold: a
    snapshot fetched by then whose newest update is within the threshold of the tick. A tick
    that succeeded and received nothing while no game was due within MARKET_OPEN_BEFORE_S
    (overnight, an off day) is not an event; a tick whose sources failed, or that received
    nothing while a game was due (an empty feed), always is."""
    assert slo.threshold_s is not None
    r, s, st, g = PipelineRun, SourceSnapshot, StageRun, Game
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


SPANS: dict[str, timedelta] = {"30d": COMPLIANCE_WINDOW, **WINDOWS}  # the windows counted


def _moment(name: str) -> BindParameter[Any]:
    """A moment of a window statement, bound at execution (typed by the column it meets)."""
    return bindparam(name)


def _sum_if(condition: Any, value: Any = 1) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


@dataclass(frozen=True, slots=True)
class _WindowQuery:
    """The one statement that counts an SLO's windows at one shape, and whether it binds the
    known sources."""

    statement: Select[Any]
    reads_sources: bool


@functools.lru_cache(maxsize=64)
def _window_query(slo: SLO, events: EventQuery, heads: tuple[int, ...]) -> _WindowQuery:
    """Built once per SLO and window shape (`heads`: the spans that start before the settled
    hours), every moment a bind parameter. One row: the unsettled tail's events and bad events
    per span, then each head's partial first hour, then the stored hours in reach of the
    heads (their number, to tell whether all are stored) and their sums from each head on."""
    settled = _moment("settled")
    tail = events(slo, settled, _moment("now"), SOURCES).subquery("tail")
    counts = []
    for i in range(len(SPANS)):
        inside = tail.c.at >= _moment(f"from_{i}")
        counts += [_sum_if(inside), _sum_if(and_(inside, tail.c.bad == 1))]
    parts = [select(*counts).select_from(tail).subquery("tail_counts")]
    for i in heads:
        since, first = _moment(f"since_{i}"), _moment(f"first_{i}")
        head = events(slo, since, first, SOURCES).subquery(f"head_{i}")
        partial = [func.count(), func.coalesce(func.sum(head.c.bad), 0)]
        where = (head.c.at >= since, head.c.at < first)
        parts.append(select(*partial).where(*where).subquery(f"head_counts_{i}"))
    if heads:
        h = RollupSloHour
        stored: list[ColumnElement[Any]] = [func.count()]
        for i in heads:
            after = h.hour >= _moment(f"first_{i}")
            stored += [_sum_if(after, h.events), _sum_if(after, h.bad)]
        reach = (h.slo == slo.name, h.hour >= _moment("hours_lo"), h.hour < settled)
        parts.append(select(*stored).where(*reach).subquery("hour_counts"))
    joined: Any = parts[0]
    for part in parts[1:]:
        joined = join(joined, part, true())
    statement = select(*(c for part in parts for c in part.c)).select_from(joined)
    binds = {e.key for e in iterate(statement) if isinstance(e, BindParameter)}
    return _WindowQuery(statement, SOURCES.key in binds)


def window_counts(session: Session, slo: SLO, now: datetime) -> dict[str, tuple[int, int]]:
    """Events and bad events per window: whole settled hours from the hourly rollup (hours
    it has not stored yet counted on the ledger), the window's first partial hour and the
    unsettled tail from the ledger; one round trip when every hour is stored. Reads only."""
    settled = settled_before(now, HOUR)
    heads = {  # span index -> its first partial hour [since, first whole hour)
        i: (now - delta, ceil_to(now - delta, HOUR))
        for i, delta in enumerate(SPANS.values())
        if now - delta < settled
    }
    lo = ceil_to(min((since for since, _ in heads.values()), default=settled), HOUR)
    query = _window_query(slo, slo.events, tuple(heads))
    params: dict[str, Any] = {"settled": settled, "now": now, "hours_lo": lo}
    for i, delta in enumerate(SPANS.values()):
        params[f"from_{i}"] = max(now - delta, settled)
    for i, (since, first) in heads.items():
        params[f"since_{i}"], params[f"first_{i}"] = since, first
    sources = source_names(session) if query.reads_sources else []
    if query.reads_sources:
        params[SOURCES.key] = sources
    values = iter(int(v or 0) for v in session.execute(query.statement, params).one())
    counts = [(next(values), next(values)) for _ in SPANS]
    partial = {i: (next(values), next(values)) for i in heads}
    if heads:
        stored = next(values)
        whole = {i: (next(values), next(values)) for i in heads}
        if stored != (settled - lo) // HOUR:  # hours not stored yet: counted on the ledger

            def events(since: datetime, until: datetime) -> Select[Any]:
                return slo.events(slo, since, until, sources)

            hours = hour_rows(session, slo.name, events, lo, settled)
            for i, (_, first) in heads.items():
                after = [(n, bad) for t, n, bad in hours if t >= first]
                whole[i] = (sum(n for n, _ in after), sum(bad for _, bad in after))
        for i in heads:
            (n, bad), (head_n, head_bad), (hours_n, hours_bad) = counts[i], partial[i], whole[i]
            counts[i] = (n + head_n + hours_n, bad + head_bad + hours_bad)
    return dict(zip(SPANS, counts, strict=True))


def slo_report(session: Session, slo: SLO, now: datetime) -> SloReport:
    """One SLO evaluated from the ledger at `now`."""
    return SloReport(slo, now, window_counts(session, slo, now))


def slo_reports(session: Session, now: datetime) -> list[SloReport]:
    """Every SLO evaluated from the ledger at `now`."""
    return [slo_report(session, slo, now) for slo in SLOS]
