"""The grid of runs: pipelines x recent time slots, one cell per slot with the slot's worst
status, its runs by status, their mean duration and the worst run (the cell links to it, with
its reason). The 1 h and 6 h windows are aggregated in SQL over the window's rows (the
started_at index); the 24 h, 7 d and 30 d windows read their settled slots, each naming its
newest run per status, from the grid rollup (`rollup_grid_slots`) and group only the open tail
from the ledger, so a year of history costs a few hundred rollup rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import PipelineRun
from app.pipelines.reasons import run_reason
from app.rollups import grid_slots
from app.rollups.slices import floor_to, settled_before

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
# slot size -> how far back its grid looks, for the windows whose settled slots are rolled up
ROLLED_SLOTS: dict[timedelta, timedelta] = {SLOTS[w]: GRID_WINDOWS[w] for w in ("24h", "7d", "30d")}
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
    tail = first
    rows: list[dict[str, Any]] = []
    if size in ROLLED_SLOTS:
        tail = max(first, settled_before(now, size))
        rows = grid_slots.settled_rows(session, first, tail, size)
    rows += grid_slots.rows_from_ledger(session, tail, now, size, through=True)
    cells: dict[tuple[str, datetime], GridCell] = {}
    groups: dict[tuple[str, datetime, str], dict[str, Any]] = {}  # (pipeline, slot, status)
    timed: dict[tuple[str, datetime], tuple[float, int]] = {}
    for row in rows:
        pipeline, at, status, n = row["pipeline"], row["slot_start"], row["status"], row["runs"]
        k = (pipeline, at)
        cell = cells.setdefault(k, GridCell(pipeline, at, status, 0))
        cell.runs += n
        cell.by_status[status] = cell.by_status.get(status, 0) + n
        if row["timed"]:
            total, count = timed.get(k, (0.0, 0))
            timed[k] = (total + row["duration_ms_sum"], count + row["timed"])
        groups[(pipeline, at, status)] = row
    for k, cell in cells.items():
        if k in timed:
            cell.mean_ms = timed[k][0] / timed[k][1]
        cell.status = max(cell.by_status, key=lambda s: RANK.get(s, 0))
    _representatives(session, cells, groups)
    pipelines = sorted({p for p, _ in cells})
    return Grid(window, slots, pipelines, cells)


def _representatives(
    session: Session,
    cells: dict[tuple[str, datetime], GridCell],
    groups: dict[tuple[str, datetime, str], dict[str, Any]],
) -> None:
    """Each cell's run, the newest of its worst status, and its reason: a rolled-up slot
    names its run (its reason read by primary key); a slot grouped from the ledger finds it by
    (pipeline, started_at) on the ledger's index. A few hundred keys in one or two queries."""
    worst = {k: groups[(c.pipeline, c.slot, c.status)] for k, c in cells.items()}
    named = {k: g["newest_run_id"] for k, g in worst.items() if g.get("newest_run_id")}
    found = grid_slots.newest_runs(session, [g for k, g in worst.items() if k not in named])
    for k, g in worst.items():
        cell = cells[k]
        if k in named:
            cell.run_id = named[k]
        elif facts := found.get((cell.pipeline, g["newest_started_at"], cell.status)):
            cell.run_id = facts[0]
            cell.reason = run_reason(*facts[1:]) if cell.status != "succeeded" else ""
    ids = [named[k] for k in named if cells[k].status != "succeeded"]
    reasons: dict[uuid.UUID, str] = {}
    r = PipelineRun
    for chunk in range(0, len(ids), 500):
        for rid, status, summary, error in session.execute(
            select(r.id, r.status, r.summary, r.error_message).where(
                r.id.in_(ids[chunk : chunk + 500])
            )
        ):
            reasons[rid] = run_reason(status, summary, error)
    for k in named:
        cells[k].reason = reasons.get(named[k], "")
