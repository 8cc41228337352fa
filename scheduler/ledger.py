"""Ledger rows the scheduler writes itself: runs it decided not to start, runs it lost."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.models import PipelineRun
from app.observability.logging import new_correlation_id

log = logging.getLogger("dugout.scheduler")


def record_skip(
    sessions: sessionmaker[Session],
    pipeline: str,
    *,
    trigger: str,
    scheduled_for: datetime | None,
    reason: str,
    now: datetime,
    actor: str | None = None,
    attempt: int = 1,
    parent_run_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Write a `skipped` run with its reason; None when the tick already has a run."""
    run = PipelineRun(
        id=uuid.uuid4(),
        pipeline=pipeline,
        trigger=trigger,
        scheduled_for=scheduled_for,
        status="skipped",
        actor=actor,
        correlation_id=new_correlation_id(),
        attempt=attempt,
        parent_run_id=parent_run_id,
        params={},
        summary={"reason": reason},
        created_at=now,
        started_at=now,
        finished_at=now,
        duration_ms=0.0,
    )
    try:
        with sessions.begin() as session:
            session.add(run)
    except IntegrityError:  # the tick already has a run: it was decided elsewhere
        return None
    log.info(
        "run skipped",
        extra={
            "pipeline": pipeline,
            "reason": reason,
            "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
        },
    )
    return run.id


def interrupt_orphans(
    sessions: sessionmaker[Session], actor: str, now: datetime, reason: str
) -> int:
    """Mark runs still `running` under `actor` (a leader that is gone) as interrupted."""
    with sessions.begin() as session:
        result = session.execute(
            update(PipelineRun)
            .where(PipelineRun.status == "running", PipelineRun.actor == actor)
            .values(
                status="interrupted", finished_at=now, error_type="LeaderLost", error_message=reason
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)
