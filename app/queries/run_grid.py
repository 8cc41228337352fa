"""The grid of runs: pipelines x recent time slots, one cell per slot with the slot's worst
status, its runs by status, their mean duration and the worst run (the cell links to it, with
its reason). Aggregated in SQL over the window's rows alone (the started_at index), so a year
of history costs what the window holds; the representative runs are then read by primary key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from app.models import PipelineRun
from app.pipelines.reasons import run_reason
from app.rollups.slices import aware, floor_sql, floor_to, from_epoch

GRID_WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
SLOTS: dict[str, timedelta] = {  # 60 to 84 columns whatever the window
    "1h": timedelta(minutes=1),
    "6h": timedelta(minutes=5),
    "24h": timedelta(minutes=20),
    "7d": timedelta(hours=2),
    "30d": timedelta(hours=12),
}
# worst first: the cell shows its slot's worst run
RANK = {
    "failed": 6,
    "interrupted": 5,
    "partial": 4,
    "running": 3,
    "skipped": 2,
    "queued": 1,
    "succeeded": 0,
}


@dataclass(slots=True)
class GridCell:
    """One pipeline's runs in one slot."""

    pipeline: str
    slot: datetime
    status: str  # the worst status in the slot
    runs: int
    by_status: dict[str, int] = field(default_factory=dict)
    mean_ms: float | None = None
    run_id: uuid.UUID | None = None  # the newest run of the slot's worst status
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Grid:
    """The slots (oldest first), the pipelines with runs, and the cells by (pipeline, slot)."""

    window: str
    slots: list[datetime]
    pipelines: list[str]
    cells: dict[tuple[str, datetime], GridCell]


def run_grid(session: Session, now: datetime, window: str) -> Grid:
    """The grid of the last `window` (one of GRID_WINDOWS), ending at `now`."""
    window = window if window in GRID_WINDOWS else "24h"
    size = SLOTS[window]
    first = floor_to(now - GRID_WINDOWS[window], size) + size
    slots = []
    at = first
    while at <= now:
        slots.append(at)
        at += size
    r = PipelineRun
    slot = floor_sql(session, r.started_at, size).label("slot")
    rows = session.execute(
        select(
            r.pipeline,
            slot,
            r.status,
            func.count(),
            func.avg(r.duration_ms),
            func.max(r.started_at),
        )
        .where(r.started_at >= first, r.started_at <= now)
        .group_by(r.pipeline, slot, r.status)
    ).all()
    cells: dict[tuple[str, datetime], GridCell] = {}
    newest: dict[tuple[str, datetime, str], datetime] = {}  # (pipeline, slot, status) -> start
    timed: dict[tuple[str, datetime], tuple[float, int]] = {}
    for pipeline, epoch, status, n, mean, last in rows:
        at = from_epoch(epoch)
        k = (pipeline, at)
        cell = cells.setdefault(k, GridCell(pipeline, at, status, 0))
        cell.runs += int(n)
        cell.by_status[status] = cell.by_status.get(status, 0) + int(n)
        if mean is not None:
            total, count = timed.get(k, (0.0, 0))
            timed[k] = (total + float(mean) * int(n), count + int(n))
        newest[(pipeline, at, status)] = last
    for k, cell in cells.items():
        if k in timed:
            cell.mean_ms = timed[k][0] / timed[k][1]
        cell.status = max(cell.by_status, key=lambda s: RANK.get(s, 0))
    _representatives(session, cells, newest)
    _reasons(session, cells)
    pipelines = sorted({p for p, _ in cells})
    return Grid(window, slots, pipelines, cells)


def _representatives(
    session: Session,
    cells: dict[tuple[str, datetime], GridCell],
    newest: dict[tuple[str, datetime, str], datetime],
) -> None:
    """Each cell's run: the newest of its worst status, found by (pipeline, started_at) on the
    ledger's (pipeline, started_at) index, a few hundred keys in one or two queries."""
    wanted = {
        (c.pipeline, aware(newest[(c.pipeline, c.slot, c.status)])): c for c in cells.values()
    }
    keys = list(wanted)
    r = PipelineRun
    for chunk in range(0, len(keys), 400):
        part = keys[chunk : chunk + 400]
        for rid, pipeline, started, status in session.execute(
            select(r.id, r.pipeline, r.started_at, r.status).where(
                tuple_(r.pipeline, r.started_at).in_(part)
            )
        ):
            cell = wanted.get((pipeline, aware(started))) if started is not None else None
            if cell is not None and status == cell.status:
                cell.run_id = rid


def _reasons(session: Session, cells: dict[tuple[str, datetime], GridCell]) -> None:
    """Each cell's reason: its representative run's, read by primary key in one query."""
    ids = [c.run_id for c in cells.values() if c.run_id is not None and c.status != "succeeded"]
    if not ids:
        return
    found: dict[uuid.UUID, Any] = {}
    for chunk in range(0, len(ids), 500):
        r = PipelineRun
        for rid, status, summary, error in session.execute(
            select(r.id, r.status, r.summary, r.error_message).where(
                r.id.in_(ids[chunk : chunk + 500])
            )
        ):
            found[rid] = run_reason(status, summary, error)
    for cell in cells.values():
        if cell.run_id in found:
            cell.reason = found[cell.run_id]
