"""Bucketed analytics for the pages: percentiles and rates aggregated in SQL, not Python loops."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import rollups
from app.db import utcnow
from app.models import OpportunityRow, PipelineRun, SourceState, StageRun

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "1y": timedelta(days=365),
}
# About 60-120 points per chart whatever the window.
BUCKETS: dict[str, int] = {"1h": 60, "24h": 900, "7d": 3 * 3600, "30d": 12 * 3600, "1y": 4 * 86400}


def _epoch(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", column)
    return func.strftime("%s", column) + 0


def _bucket(session: Session, column: Any, seconds: int) -> Any:
    """Seconds since the epoch rounded down to a bucket, computed by the database."""
    return func.floor(_epoch(session, column) / seconds) * seconds


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    """Duration percentiles of one pipeline in one time bucket."""

    pipeline: str
    bucket: datetime
    runs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


def latency_series(session: Session, now: datetime, window: str) -> list[LatencyPoint]:
    """p50 / p95 / p99 run duration per pipeline per bucket over `window`."""
    return [
        LatencyPoint(r["pipeline"], r["bucket_start"], r["timed"], *_ms(r))
        for r in _buckets(session, now, window)
        if r["timed"]
    ]


def _ms(row: dict[str, Any]) -> tuple[float, float, float]:
    return float(row["p50_ms"]), float(row["p95_ms"]), float(row["p99_ms"])


# Windows whose buckets are this long or longer read settled buckets from a rollup; shorter
# ones scan their few thousand runs.
ROLLUP_FROM = timedelta(hours=3)


def _buckets(session: Session, now: datetime, window: str) -> list[dict[str, Any]]:
    """Per pipeline and bucket: percentiles and outcomes of the runs started in the window
    (from the bucket holding the window's start when rolled up)."""
    memo = session.info.setdefault("dugout.run_buckets", {})  # latency and success share it
    if (now, window) not in memo:
        since, size = now - WINDOWS[window], timedelta(seconds=BUCKETS[window])
        if size >= ROLLUP_FROM:
            rows = rollups.run_buckets(session, since, now, size)
        else:
            rows = rollups.bucket_rows(session, since, None, size)
            rows.sort(key=lambda r: (r["pipeline"], r["bucket_start"]))
        memo[(now, window)] = rows
    return memo[(now, window)]


@dataclass(frozen=True, slots=True)
class RatePoint:
    """Runs and successes of one pipeline in one bucket."""

    pipeline: str
    bucket: datetime
    runs: int
    succeeded: int


def success_series(session: Session, now: datetime, window: str) -> list[RatePoint]:
    """Finished runs and successes per pipeline per bucket."""
    return [
        RatePoint(r["pipeline"], r["bucket_start"], r["finished"], r["succeeded"])
        for r in _buckets(session, now, window)
        if r["finished"]
    ]


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Filters of the run history."""

    pipeline: str | None = None
    status: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: Any, f: RunFilter) -> Any:
    if f.pipeline:
        query = query.where(PipelineRun.pipeline == f.pipeline)
    if f.status:
        query = query.where(PipelineRun.status == f.status)
    if f.trigger:
        query = query.where(PipelineRun.trigger == f.trigger)
    if f.since:
        query = query.where(PipelineRun.created_at >= f.since)
    if f.until:
        query = query.where(PipelineRun.created_at < f.until)
    return query


def runs_page(
    session: Session, f: RunFilter, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the run history, newest first, and the total count (server-side paging)."""
    totals = rollups.run_totals(
        session,
        f.since,
        utcnow(),
        f.until,
        pipeline=f.pipeline,
        status=f.status,
        trigger=f.trigger,
    )
    total = sum(v[0] for v in totals.values())
    cols = (
        PipelineRun.id,
        PipelineRun.pipeline,
        PipelineRun.status,
        PipelineRun.trigger,
        PipelineRun.actor,
        PipelineRun.started_at,
        PipelineRun.duration_ms,
        PipelineRun.attempt,
        PipelineRun.error_message,
    )
    rows = session.execute(
        _filtered(select(*cols), f)
        .order_by(PipelineRun.created_at.desc())
        .offset(page * page_size)
        .limit(page_size)
    ).all()
    return [
        {
            "id": str(r[0]),
            "pipeline": r[1],
            "status": r[2],
            "trigger": r[3],
            "actor": r[4] or "",
            "started_at": r[5].isoformat(timespec="seconds") if r[5] else "",
            "duration_ms": round(r[6], 1) if r[6] is not None else None,
            "attempt": r[7],
            "error": (r[8] or "")[:200],
            "link": f"[{str(r[0])[:8]}](/pipelines/{r[0]})",
        }
        for r in rows
    ], total


def run_detail(session: Session, run_id: str) -> dict[str, Any] | None:
    """A run with its stages, retries (runs sharing its parent) and error."""
    try:
        rid = uuid.UUID(run_id)
    except ValueError:
        return None
    run = session.get(PipelineRun, rid)
    if run is None:
        return None
    stages = session.scalars(
        select(StageRun).where(StageRun.run_id == rid).order_by(StageRun.started_at)
    ).all()
    root = run.parent_run_id or run.id
    attempts = session.execute(
        select(PipelineRun.id, PipelineRun.attempt, PipelineRun.status)
        .where((PipelineRun.parent_run_id == root) | (PipelineRun.id == root))
        .order_by(PipelineRun.attempt)
    ).all()
    return {
        "id": str(run.id),
        "pipeline": run.pipeline,
        "status": run.status,
        "trigger": run.trigger,
        "actor": run.actor,
        "attempt": run.attempt,
        "scheduled_for": run.scheduled_for,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "correlation_id": run.correlation_id,
        "trace_id": run.trace_id,
        "error_type": run.error_type,
        "error_message": run.error_message,
        "summary": run.summary,
        "params": run.params,
        "attempts": [{"id": str(a[0]), "attempt": a[1], "status": a[2]} for a in attempts],
        "stages": [
            {
                "stage": s.stage,
                "status": s.status,
                "started_at": s.started_at,
                "finished_at": s.finished_at or s.started_at,
                "duration_ms": s.duration_ms,
                "records_in": s.records_in,
                "records_out": s.records_out,
                "error_type": s.error_type,
                "error_message": s.error_message,
                "reason": (s.detail or {}).get("reason"),
            }
            for s in stages
        ],
    }


def opportunities(
    session: Session,
    now: datetime,
    *,
    strategy: str | None = None,
    min_ev: float | None = None,
    book: str | None = None,
    window: timedelta = timedelta(hours=24),
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The live view: the newest detection per (strategy, game, market, side), filtered."""
    conditions = [OpportunityRow.detected_at >= now - window]
    if strategy:
        conditions.append(OpportunityRow.strategy == strategy)
    if min_ev is not None:
        conditions.append(OpportunityRow.ev >= min_ev)
    if book:
        conditions.append(OpportunityRow.book == book)
    newest = (
        select(
            OpportunityRow.id,
            func.row_number()
            .over(
                partition_by=(
                    OpportunityRow.strategy,
                    OpportunityRow.game_key,
                    OpportunityRow.market,
                    OpportunityRow.side,
                ),
                order_by=OpportunityRow.detected_at.desc(),
            )
            .label("rn"),
        )
        .where(*conditions)
        .subquery()
    )
    rows = session.scalars(
        select(OpportunityRow)
        .join(newest, newest.c.id == OpportunityRow.id)
        .where(newest.c.rn == 1)
        .order_by(OpportunityRow.detected_at.desc())
        .limit(limit)
    ).all()
    return [
        {
            "detected_at": o.detected_at.isoformat(timespec="seconds"),
            "game": o.game_key,
            "market": o.market,
            "side": o.side,
            "point": o.point,
            "book": o.book,
            "price": o.price,
            "fair_price": _fair_american(o.fair_prob),
            "ev_pct": round(o.ev * 100, 2),
            "kelly_pct": round(o.kelly_fraction * 100, 2),
            "strategy": o.strategy,
            "latency_s": round(o.latency_ms / 1000, 3),
            "explanation": o.explanation,
        }
        for o in rows
    ]


def _fair_american(p: float | None) -> int | None:
    from app.pipelines.odds import decimal_to_american

    if p is None or not 0 < p < 1:
        return None
    return decimal_to_american(1 / p)


def detection_latencies(session: Session, now: datetime, window: timedelta) -> list[float]:
    """Detection latencies in seconds over the window (for the histogram)."""
    rows = session.scalars(
        select(OpportunityRow.latency_ms)
        .where(OpportunityRow.detected_at >= now - window)
        .order_by(OpportunityRow.detected_at.desc())
        .limit(20000)
    )
    return [ms / 1000 for ms in rows]


def freshness(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Per source: age of its newest data, last error and quota."""
    return [
        {
            "source": s.source,
            "age_s": (now - s.newest_update_at).total_seconds() if s.newest_update_at else None,
            "last_fetch_at": s.last_fetch_at,
            "last_error": s.last_error,
            "quota_remaining": s.quota_remaining,
        }
        for s in session.scalars(select(SourceState).order_by(SourceState.source))
    ]
