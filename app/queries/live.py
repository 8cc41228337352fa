"""The change token pages poll every second: it moves when a run is created, starts or ends,
from two index-only reads (newest created_at; how many runs are queued or running)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import PipelineRun
from app.vocabulary import RunStatus

ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


def change_token(session: Session) -> str:
    """`<newest run created>|<runs active>`: a new run moves the first, a run that finishes
    the second (a run ending while another opens moves the first), so pages refresh within a
    poll of a run finishing without re-reading any table until it does."""
    r = PipelineRun
    newest = session.scalar(select(func.max(r.created_at)))
    active = session.scalar(select(func.count()).where(r.status.in_(ACTIVE)))
    return f"{newest.isoformat() if newest else ''}|{int(active or 0)}"
