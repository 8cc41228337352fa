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
