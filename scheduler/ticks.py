"""What the ledger says of a tick: which tick a run belongs to, and whether a newer tick of its
job already succeeded (then retrying it is moot). Read by dispatch, recovery and commands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import PipelineRun

SUCCESS = ("succeeded", "partial")


def tick_of(session: Session, row: PipelineRun) -> datetime | None:
    """The scheduled tick a run belongs to: its own, or its first attempt's."""
    seen = 0
    while row is not None and seen < 20:
        if row.scheduled_for is not None:
            return row.scheduled_for
        if row.parent_run_id is None:
            return None
        row = session.get(PipelineRun, row.parent_run_id)  # type: ignore[assignment]
        seen += 1
    return None


def superseded(session: Session, pipeline: str, tick: datetime) -> bool:
    """True when a newer tick of `pipeline` already succeeded (retrying this one is moot)."""
    newer = session.scalar(
        select(PipelineRun.id)
        .where(
            PipelineRun.pipeline == pipeline,
            PipelineRun.scheduled_for > tick,
            PipelineRun.status.in_(SUCCESS),
        )
        .limit(1)
    )
    return newer is not None
