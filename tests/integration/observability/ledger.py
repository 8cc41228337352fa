"""Crafted ledgers for SLO tests: runs, opportunities and snapshots at chosen times."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from app.models import OpportunityRow, PipelineRun, SourceSnapshot, SourceState


def run(
    at: datetime,
    status: str = "succeeded",
    *,
    pipeline: str = "collection",
    duration_ms: float = 200.0,
    trigger: str = "schedule",
) -> PipelineRun:
    """A finished run that started at `at`."""
    return PipelineRun(
        id=uuid.uuid4(),
        pipeline=pipeline,
        trigger=trigger,
        status=status,
        correlation_id=uuid.uuid4().hex,
        created_at=at,
        started_at=at,
        finished_at=at + timedelta(milliseconds=duration_ms),
        duration_ms=duration_ms,
    )


def opportunity(detected_at: datetime, latency_s: float, strategy: str = "ev") -> OpportunityRow:
    """An opportunity detected `latency_s` after its data appeared."""
    return OpportunityRow(
        strategy=strategy,
        game_key=f"g-{uuid.uuid4().hex[:8]}",
        market="h2h",
        side="home",
        book="book",
        price=110,
        ev=0.03,
        kelly_fraction=0.01,
        data_available_at=detected_at - timedelta(seconds=latency_s),
        detected_at=detected_at,
        latency_ms=latency_s * 1000,
        explanation="crafted",
        fingerprint=uuid.uuid4().hex,
    )


def snapshot(fetched_at: datetime, newest: datetime, source: str = "demo") -> SourceSnapshot:
    """A stored fetch whose newest data is `newest`."""
    return SourceSnapshot(
        source=source, content_hash=uuid.uuid4().hex, fetched_at=fetched_at, newest_update_at=newest
    )


def source(name: str = "demo", newest: datetime | None = None) -> SourceState:
    """A source's state row."""
    return SourceState(source=name, newest_update_at=newest)


def ticket_burn(now: datetime) -> list:
    """Pipeline latency: 27 quiet days, then 3 days with 9 slow runs in 432, one of them 3 h
    ago. 3 d (2.1 %) and 6 h (2.8 %) burn over 1x: a ticket; 1 h and 2 h have none slow, 6 h
    stays under the 6x page line; 30 d is 0.83 % of the 1 % budget: not exhausted."""
    rows = [run(now - timedelta(days=30) + timedelta(hours=h)) for h in range(27 * 24)]
    start = now - timedelta(days=3)
    slow = {3 * 144 - 18} | {i * 48 for i in range(8)}  # 3 h ago, and 8 older than 6 h
    for i in range(3 * 144):
        rows.append(
            run(start + timedelta(minutes=10 * i), duration_ms=40_000 if i in slow else 200)
        )
    return rows


def page_burn(now: datetime) -> list:
    """Pipeline reliability (grading runs): the last hour fails one run in four (50x)."""
    rows = []
    for i in range(60):
        status = "failed" if i % 4 == 0 else "succeeded"
        rows.append(run(now - timedelta(minutes=60 - i), status, pipeline="grading"))
    return rows
