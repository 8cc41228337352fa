"""One status picture for `dugout status`, `dugout live` and /api/status: health checks, SLOs,
open alerts, sources and the last runs, with a verdict healthy / degraded / down."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.health import CheckResult, check_database, check_migrations
from app.models import Alert, SourceState
from app.observability.slo import slo_reports
from app.queries import recent_runs

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
        }


def alert_dict(a: Alert) -> dict[str, Any]:
    """An alert row as plain data."""
    return {
        "id": str(a.id),
        "key": a.key,
        "severity": a.severity,
        "title": a.title,
        "message": a.message,
        "labels": a.labels,
        "status": a.status,
        "fired_at": a.fired_at.isoformat(timespec="seconds"),
        "last_seen_at": a.last_seen_at.isoformat(timespec="seconds"),
        "resolved_at": a.resolved_at.isoformat(timespec="seconds") if a.resolved_at else None,
    }


def source_rows(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Each source: data age, last fetch, last error and quota."""
    out = []
    for s in session.scalars(select(SourceState).order_by(SourceState.source)):
        age = (now - s.newest_update_at).total_seconds() if s.newest_update_at else None
        out.append(
            {
                "source": s.source,
                "freshness_s": round(age, 1) if age is not None else None,
                "last_fetch_at": s.last_fetch_at.isoformat(timespec="seconds")
                if s.last_fetch_at
                else None,
                "last_error": s.last_error_type,
                "quota_remaining": s.quota_remaining,
            }
        )
    return out


def build_status(
    db: Any,
    now: datetime,
    extra_checks: Sequence[Callable[[], CheckResult]] = (),
    runs: int = 10,
) -> StatusReport:
    """Run the checks; when the database answers, read SLOs, alerts, sources and runs."""
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
        report.alerts = [
            alert_dict(a)
            for a in session.scalars(
                select(Alert).where(Alert.status == "firing").order_by(Alert.fired_at.desc())
            )
        ]
        report.sources = source_rows(session, now)
        report.runs = recent_runs(session, runs)
    return report
