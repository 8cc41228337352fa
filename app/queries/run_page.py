"""Everything the run page shows about one run beyond its row and stages: its reason, the
operator's reason, its attempt family, the runs chained with it in the same tick, what it wrote,
and its log lines. Reads only; each query is served by an index (a year of history stays fast)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    OpportunityRow,
    PipelineRun,
    QuarantinedRow,
    QuoteRow,
    Recommendation,
    SourceSnapshot,
)
from app.observability.run_logs import run_log_lines
from app.pipelines.reasons import run_reason
from app.queries.runs import run_detail
from app.vocabulary import Pipeline


def _brief(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "pipeline": row.pipeline,
        "status": row.status,
        "trigger": row.trigger,
        "attempt": row.attempt,
        "started_at": row.started_at,
        "reason": run_reason(row.status, row.summary, row.error_message),
    }


_BRIEF = (
    PipelineRun.id,
    PipelineRun.pipeline,
    PipelineRun.status,
    PipelineRun.trigger,
    PipelineRun.attempt,
    PipelineRun.started_at,
    PipelineRun.summary,
    PipelineRun.error_message,
    PipelineRun.created_at,
)


def written_counts(session: Session, run_id: uuid.UUID) -> dict[str, int]:
    """What the run stored: snapshots, quotes, quarantined rows, opportunities, recommendations."""
    snaps = select(SourceSnapshot.id).where(SourceSnapshot.run_id == run_id)
    opps = select(OpportunityRow.id).where(OpportunityRow.run_id == run_id)
    counts = {
        "snapshots": select(func.count()).select_from(snaps.subquery()),
        "quotes": select(func.count()).where(QuoteRow.snapshot_id.in_(snaps)),
        "quarantined": select(func.count()).where(QuarantinedRow.run_id == run_id),
        "opportunities": select(func.count()).select_from(opps.subquery()),
        "recommendations": select(func.count()).where(Recommendation.opportunity_id.in_(opps)),
    }
    row = session.execute(select(*(q.scalar_subquery().label(k) for k, q in counts.items()))).one()
    return {k: int(v or 0) for k, v in zip(counts, row, strict=True)}


def same_tick(session: Session, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The other runs of the run's scheduled tick (its upstream and the runs chained after it),
    in the order they were created: one step per pipeline on the (pipeline, tick) key."""
    tick = run.get("scheduled_for")
    if tick is None:
        return []
    rows = session.execute(
        select(*_BRIEF)
        .where(
            PipelineRun.pipeline.in_([p.value for p in Pipeline]),
            PipelineRun.scheduled_for == tick,
            PipelineRun.id != uuid.UUID(run["id"]),
        )
        .order_by(PipelineRun.created_at)
    ).all()
    return [_brief(r) | {"after": r.created_at >= run["created_at"]} for r in rows]


def run_page(session: Session, run_id: str, log_level: str = "DEBUG") -> dict[str, Any] | None:
    """The run page's data, or None for an unknown or malformed id."""
    run = run_detail(session, run_id)
    if run is None:
        return None
    rid = uuid.UUID(run["id"])
    params = dict(run.get("params") or {})
    parent = None
    if run.get("parent_run_id"):
        found = session.execute(
            select(*_BRIEF).where(PipelineRun.id == uuid.UUID(run["parent_run_id"]))
        ).first()
        parent = _brief(found) if found else None
    retries = session.execute(
        select(*_BRIEF).where(PipelineRun.parent_run_id == rid).order_by(PipelineRun.created_at)
    ).all()
    return {
        **run,
        "operator_reason": params.pop("reason", None),
        "params": params,
        "parent": parent,
        "retried_by": [_brief(r) for r in retries],
        "tick_runs": same_tick(session, run),
        "written": written_counts(session, rid),
        "logs": run_log_lines(session, rid, run.get("correlation_id"), log_level),
    }
