"""What happened to each tick, read from the ledger at rest: runs, executions, lost, doubled, stuck.

A tick's family is its first run (the row with the tick key) and every attempt that retries
it (linked by parent). An execution is a run of the family that succeeded, proven by its stage
rows (a stage that finished succeeded or partial), not by the run's status alone; the data rows
a run wrote (snapshots, opportunities, quarantined rows) are counted per run
too, so a rolled-back fenced writer shows up as a run with no data. The fault tests and
bench/faults.py judge "nothing lost, nothing doubled" with this one reading.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from app.models import (
    OpportunityRow,
    PipelineRun,
    SourceSnapshot,
    StageRun,
)

SUCCESS = ("succeeded", "partial")
UNFINISHED = ("queued", "running")
# What a run wrote as the tick's data (quarantined rows are the record of a feed's errors,
# kept whatever became of the attempt, so they do not make a writer of data)
DATA_COLUMNS: tuple[Any, ...] = (
    SourceSnapshot.run_id,
    OpportunityRow.run_id,
)


@dataclass(slots=True)
class TickTally:
    """One tick of one pipeline: its family of runs and what they left behind."""

    pipeline: str
    tick: datetime
    runs: list[uuid.UUID] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    executions: int = 0  # runs that succeeded with a successful stage row
    data_runs: int = 0  # runs that wrote data rows
    stuck: int = 0  # rows still queued or running
    open_interruptions: int = 0  # interrupted rows no attempt retries
    superseded: bool = False  # a newer tick of the pipeline succeeded

    @property
    def doubled(self) -> bool:
        """More than one execution (or more than one writer of data) for this tick."""
        return self.executions > 1 or self.data_runs > 1

    @property
    def lost(self) -> bool:
        """Interrupted, never retried to success, and no newer tick made it moot."""
        return self.executions == 0 and self.open_interruptions > 0 and not self.superseded

    @property
    def skipped(self) -> bool:
        """Only skip rows: a decision on record (a guard, a missed tick), not a loss."""
        return bool(self.statuses) and set(self.statuses) == {"skipped"}


def _families(session: Session, since: datetime | None) -> Any:
    """A CTE of (run id, root run id) for every run, walking parent links from the roots."""
    roots = select(PipelineRun.id.label("id"), PipelineRun.id.label("root")).where(
        PipelineRun.parent_run_id.is_(None)
    )
    if since is not None:
        roots = roots.where(PipelineRun.created_at >= since)
    family = roots.cte("family", recursive=True)
    child = aliased(PipelineRun)
    return family.union_all(
        select(child.id, family.c.root).where(child.parent_run_id == family.c.id)
    )


def tally_ticks(
    session: Session, *, since: datetime | None = None, pipelines: Iterable[str] | None = None
) -> list[TickTally]:
    """Every tick (runs with a tick key, and their retries) since `since`, oldest first."""
    family = _families(session, since)
    root = aliased(PipelineRun)
    run = aliased(PipelineRun)
    where = [root.scheduled_for.is_not(None)]
    if pipelines is not None:
        where.append(root.pipeline.in_(list(pipelines)))
    rows = session.execute(
        select(root.pipeline, root.scheduled_for, run.id, run.status)
        .join(family, family.c.root == root.id)
        .join(run, run.id == family.c.id)
        .where(*where)
        .order_by(root.scheduled_for, run.created_at)
    ).all()
    ids = [r[2] for r in rows]
    good_stages = _per_run(
        session,
        select(StageRun.run_id, func.count()).where(
            StageRun.run_id.in_(ids), StageRun.status.in_(SUCCESS)
        ),
        StageRun.run_id,
    )
    data = _data_per_run(session, ids)
    children = {
        p
        for (p,) in session.execute(
            select(PipelineRun.parent_run_id).where(PipelineRun.parent_run_id.in_(ids))
        )
    }
    ticks: dict[tuple[str, datetime], TickTally] = {}
    for pipeline, tick, run_id, status in rows:
        assert tick is not None  # roots were chosen by their tick key
        t = ticks.setdefault((pipeline, tick), TickTally(pipeline, tick))
        t.runs.append(run_id)
        t.statuses.append(status)
        if status in SUCCESS and good_stages.get(run_id):
            t.executions += 1
        if data.get(run_id):
            t.data_runs += 1
        if status in UNFINISHED:
            t.stuck += 1
        if status == "interrupted" and run_id not in children:
            t.open_interruptions += 1
    newest: dict[str, datetime] = {}
    for t in ticks.values():
        if t.executions and (t.pipeline not in newest or t.tick > newest[t.pipeline]):
            newest[t.pipeline] = t.tick
    for t in ticks.values():
        best = newest.get(t.pipeline)
        t.superseded = best is not None and t.executions == 0 and best > t.tick
    return sorted(ticks.values(), key=lambda t: (t.tick, t.pipeline))


def _per_run(session: Session, query: Any, column: Any) -> dict[uuid.UUID, int]:
    return {run_id: n for run_id, n in session.execute(query.group_by(column))}


def _data_per_run(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Data rows per run id, over every table a run writes, in one query."""
    if not ids:
        return {}
    parts = [
        select(column.label("run_id"), literal(1).label("n")).where(column.in_(ids))
        for column in DATA_COLUMNS
    ]
    rows = union_all(*parts).subquery()
    return {
        run_id: n
        for run_id, n in session.execute(
            select(rows.c.run_id, func.sum(rows.c.n)).group_by(rows.c.run_id)
        )
    }


@dataclass(frozen=True, slots=True)
class Summary:
    """The whole tally in numbers (what bench/faults.py prints per fault)."""

    ticks: int
    executions: int
    runs: int
    lost: int
    doubled: int
    stuck: int
    skipped: int
    superseded: int

    @property
    def runs_per_tick(self) -> float:
        """Rows per tick (attempts, retries, skips)."""
        return self.runs / self.ticks if self.ticks else 0.0


def summarize(ticks: list[TickTally]) -> Summary:
    """Totals over `ticks`."""
    return Summary(
        ticks=len(ticks),
        executions=sum(t.executions for t in ticks),
        runs=sum(len(t.runs) for t in ticks),
        lost=sum(t.lost for t in ticks),
        doubled=sum(t.doubled for t in ticks),
        stuck=sum(t.stuck > 0 for t in ticks),
        skipped=sum(t.skipped for t in ticks),
        superseded=sum(t.superseded for t in ticks),
    )
