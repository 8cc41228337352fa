"""The schedule as data: JobSchedule rows, the defaults seeded into them, and tick arithmetic."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.models import JobSchedule

# Every interval counts from this instant, so a new leader keeps the same phase (ticks at
# :00, :01, ... for a 60 s job) instead of restarting the interval when it declares the jobs.
ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One scheduled job: what it runs, how often (0: only chained after its upstream), where."""

    job_id: str
    pipeline: str
    interval_s: int
    priority: str = "default"
    enabled: bool = True

    @property
    def chained(self) -> bool:
        """True when the job runs only after its upstream job, never on its own timer."""
        return self.interval_s <= 0

    @property
    def executor(self) -> str:
        """The APScheduler executor alias this job runs on."""
        return "critical" if self.priority == "critical" else "default"


DEFAULT_SCHEDULE: tuple[JobSpec, ...] = (
    JobSpec("collection", "collection", 60, "critical"),
    JobSpec("analysis", "analysis", 0),
    JobSpec("recommendations", "recommendations", 0),
    JobSpec("grading", "grading", 15 * 60),
)
# Downstream jobs of each job: analysis after a successful collection, recommendations after it.
DEPENDENTS: dict[str, tuple[str, ...]] = {
    "collection": ("analysis",),
    "analysis": ("recommendations",),
}


def upstream_of(job_id: str) -> str | None:
    """The job `job_id` is chained after, if any."""
    for upstream, downstream in DEPENDENTS.items():
        if job_id in downstream:
            return upstream
    return None


def _spec(row: JobSchedule) -> JobSpec:
    return JobSpec(row.job_id, row.pipeline, row.interval_s, row.priority, row.enabled)


def seed_schedule(
    sessions: sessionmaker[Session], specs: Iterable[JobSpec] = DEFAULT_SCHEDULE
) -> int:
    """Fill an empty schedule table with `specs`; an operator's table is never touched.

    Returns how many rows were added (0 when the table already had rows or another process
    seeded it first).
    """
    try:
        with sessions.begin() as session:
            if session.scalar(select(JobSchedule.job_id).limit(1)) is not None:
                return 0
            rows = [
                JobSchedule(
                    job_id=s.job_id,
                    pipeline=s.pipeline,
                    interval_s=s.interval_s,
                    priority=s.priority,
                    enabled=s.enabled,
                )
                for s in specs
            ]
            session.add_all(rows)
        return len(rows)
    except IntegrityError:  # another process seeded the table at the same moment
        return 0


def load_schedule(sessions: sessionmaker[Session]) -> dict[str, JobSpec]:
    """Every job in the schedule table, by id."""
    with sessions() as session:
        rows = session.scalars(select(JobSchedule).order_by(JobSchedule.job_id)).all()
        return {row.job_id: _spec(row) for row in rows}


def get_spec(sessions: sessionmaker[Session], job_id: str) -> JobSpec | None:
    """One job of the schedule, or None."""
    with sessions() as session:
        row = session.get(JobSchedule, job_id)
        return _spec(row) if row is not None else None


def latest_tick(interval_s: float, now: datetime, anchor: datetime = ANCHOR) -> datetime:
    """The newest tick at or before `now` of an interval anchored at `anchor`."""
    steps = math.floor((now - anchor).total_seconds() / interval_s)
    return anchor + timedelta(seconds=steps * interval_s)
