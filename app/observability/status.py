"""One status picture for `dugout status`, `dugout live` and /api/status: health checks, SLOs,
open alerts, sources and the last runs, with a verdict healthy / degraded / down."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.health import CheckResult, check_database, check_migrations
from app.observability.slo import ALERT_LEVELS, shown_level, slo_reports
from app.queries.alerts import firing_alerts
from app.queries.runs import RunRow, recent_runs
from app.queries.sources import source_freshness

EXIT_CODES = {"healthy": 0, "degraded": 1, "down": 2}
CRITICAL_CHECKS = ("database", "migrations")


@dataclass(slots=True)
class StatusReport:
    """Everything an on-call engineer needs on one screen."""

    now: datetime
    checks: list[CheckResult]
    slos: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    strategies: list[dict[str, Any]] = field(default_factory=list)  # app.pipelines.coverage
    quota: list[dict[str, Any]] = field(default_factory=list)  # app.pipelines.quota_read

    @property
    def verdict(self) -> str:
        """down: database or schema unusable; degraded: a check fails or an alert fires."""
        failing = {c.name for c in self.checks if not c.ok}
        if failing & set(CRITICAL_CHECKS):
            return "down"
        if failing or self.alerts:
            return "degraded"
        return "healthy"

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 degraded, 2 down."""
        return EXIT_CODES[self.verdict]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {
            "status": self.verdict,
            "at": self.now.isoformat(timespec="seconds"),
            "checks": [asdict(c) for c in self.checks],
            "slos": self.slos,
            "alerts": self.alerts,
            "sources": self.sources,
            "runs": self.runs,
            "strategies": self.strategies,
            "quota": self.quota,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def alert_dict(a: Mapping[str, Any]) -> dict[str, Any]:
    """An alert (app.queries.alerts) as JSON-able data, times to the second."""
    return {
        **a,
        "fired_at": _iso(a["fired_at"]),
        "last_seen_at": _iso(a["last_seen_at"]),
        "resolved_at": _iso(a["resolved_at"]),
    }


def source_rows(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Each source: data age, last fetch, last error and quota, as JSON-able data."""
    return [
        {
            "source": s["source"],
            "freshness_s": round(s["age_s"], 1) if s["age_s"] is not None else None,
            "last_fetch_at": _iso(s["last_fetch_at"]),
            "last_error": s["last_error_type"],
            "quota_remaining": s["quota_remaining"],
        }
        for s in source_freshness(session, now)
    ]


def run_row_dict(r: RunRow) -> dict[str, Any]:
    """A run (app.queries.runs) as JSON-able data for the status picture."""
    return {
        "id": str(r.id),
        "pipeline": r.pipeline,
        "status": r.status,
        "trigger": r.trigger,
        "actor": r.actor or "",
        "started_at": _iso(r.started_at) or "",
        "duration_ms": round(r.duration_ms, 1) if r.duration_ms is not None else None,
        "error": r.error or "",
        "reason": r.reason,
    }


def agree_with_alerts(slos: Sequence[dict[str, Any]], alerts: Sequence[Mapping[str, Any]]) -> None:
    """Give each SLO its `alerting` levels (the stored firing alerts the alert list shows) and
    the `shown_level` its card and status row say, so those never disagree with the alerts."""
    for slo in slos:
        prefix = f"slo:{slo['name']}:"
        levels = [a["severity"] for a in alerts if str(a.get("key", "")).startswith(prefix)]
        slo["alerting"] = [level for level in ALERT_LEVELS if level in levels]
        slo["shown_level"] = shown_level(
            slo["alerting"], slo.get("error_budget_remaining"), int(slo.get("events") or 0)
        )


def build_status(
    db: Any,
    now: datetime,
    extra_checks: Sequence[Callable[[], CheckResult]] = (),
    runs: int = 10,
    sources: bool = True,
) -> StatusReport:
    """Run the checks; when the database answers, read SLOs, alerts, sources (unless told not
    to) and the last `runs` runs (none read when 0)."""
    checks = [check_database(db)]
    if not checks[0].ok:
        return StatusReport(now, checks)
    checks.append(check_migrations(db))
    checks += [check() for check in extra_checks]
    report = StatusReport(now, checks)
    if not checks[1].ok:
        return report
    with db.session() as session:
        report.slos = [r.as_dict() for r in slo_reports(session, now)]
        report.alerts = [alert_dict(a) for a in firing_alerts(session)]
        agree_with_alerts(report.slos, report.alerts)
        if sources:
            report.sources = source_rows(session, now)
        if runs:
            report.runs = [run_row_dict(r) for r in recent_runs(session, runs)]
    return report
