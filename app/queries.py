"""Read models for the pages and the API: aggregate in SQL, return plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import AuditRecord, PipelineRun, User
from app.rollups import run_totals


@dataclass(frozen=True, slots=True)
class PipelineSummary:
    """One pipeline's runs in a window: counts by outcome and mean duration."""

    pipeline: str
    runs: int
    succeeded: int
    failed: int
    avg_ms: float | None
    max_ms: float | None
    last_started_at: datetime | None

    @property
    def success_rate(self) -> float | None:
        """Share of finished runs that succeeded, or None with no finished runs."""
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None


def pipeline_summaries(
    session: Session, since: datetime, now: datetime | None = None
) -> list[PipelineSummary]:
    """Per pipeline since `since`: runs, successes, failures, mean and max duration (settled
    days from the day rollup, the edges from the ledger)."""
    per: dict[str, list[Any]] = {}
    totals = run_totals(session, since, now or utcnow())
    for (pipeline, status, _trigger), (n, timed, total_ms, max_ms, last) in totals.items():
        cur = per.setdefault(pipeline, [0, 0, 0, 0, 0.0, None, None])
        cur[0] += n
        cur[1] += n if status == "succeeded" else 0
        cur[2] += n if status in ("failed", "partial") else 0
        cur[3] += timed
        cur[4] += total_ms
        if max_ms is not None:
            cur[5] = max_ms if cur[5] is None else max(cur[5], max_ms)
        if last is not None:
            cur[6] = last if cur[6] is None else max(cur[6], last)
    return [
        PipelineSummary(
            pipeline,
            n,
            ok,
            bad,
            total_ms / timed if timed else None,
            float(max_ms) if max_ms is not None else None,
            last,
        )
        for pipeline, (n, ok, bad, timed, total_ms, max_ms, last) in sorted(per.items())
    ]


def recent_runs(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs, newest first, as plain rows."""
    runs = session.scalars(
        select(PipelineRun).order_by(PipelineRun.created_at.desc()).limit(limit)
    ).all()
    return [
        {
            "id": str(r.id),
            "pipeline": r.pipeline,
            "status": r.status,
            "trigger": r.trigger,
            "actor": r.actor or "",
            "started_at": r.started_at.isoformat(timespec="seconds") if r.started_at else "",
            "duration_ms": round(r.duration_ms, 1) if r.duration_ms is not None else None,
            "error": r.error_message or "",
        }
        for r in runs
    ]


def window_start(now: datetime, hours: int = 24) -> datetime:
    """The start of a look-back window ending at `now`."""
    return now - timedelta(hours=hours)


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every account, without secrets."""
    users = session.scalars(select(User).order_by(User.username)).all()
    return [
        {
            "username": u.username,
            "role": u.role,
            "active": "yes" if u.is_active else "no",
            "last_login_at": u.last_login_at.isoformat(timespec="seconds")
            if u.last_login_at
            else "",
        }
        for u in users
    ]


def recent_audit(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The newest audit records, newest first."""
    rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)).all()
    return [
        {
            "seq": r.seq,
            "at": r.at.isoformat(timespec="seconds"),
            "actor": r.actor,
            "role": r.role or "",
            "action": r.action,
            "target": r.target or "",
            "outcome": r.outcome,
            "reason": r.reason or "",
            "source_ip": r.source_ip or "",
        }
        for r in rows
    ]
