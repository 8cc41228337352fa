"""Chart buckets of runs by start time, per pipeline: duration percentiles and outcomes of
settled buckets (the overview's long windows). A marker row (pipeline '*') says a bucket was
computed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import PipelineRun, RollupRunBucket
from app.rollups.slices import (
    MARKER,
    aware,
    case_when,
    floor_sql,
    from_epoch,
    gaps,
    refresh_sized,
    slices,
)
from app.vocabulary import FINISHED_STATUSES, RunStatus


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile of sorted values, as percentile_cont computes it."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bucket_row(
    pipeline: str,
    start: datetime,
    size: timedelta,
    timed: Any = 0,
    p50: Any = None,
    p95: Any = None,
    p99: Any = None,
    finished: Any = 0,
    succeeded: Any = 0,
) -> dict[str, Any]:
    """One bucket as a RollupRunBucket row."""
    return {
        "size_s": int(size.total_seconds()),
        "bucket_start": start,
        "pipeline": pipeline,
        "bucket_end": start + size,
        "timed": int(timed or 0),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "finished": int(finished or 0),
        "succeeded": int(succeeded or 0),
    }


def rows_from_ledger(
    session: Session, lo: datetime, hi: datetime | None, size: timedelta
) -> list[dict[str, Any]]:
    """Per pipeline and bucket of `size`, runs started in [lo, hi): timed runs, p50 / p95 / p99
    duration (percentile_cont on PostgreSQL; the same interpolation in Python on SQLite),
    finished runs and successes. Buckets with no run have no row."""
    r = PipelineRun
    bucket = floor_sql(session, r.started_at, size).label("bucket")
    conds = [r.started_at >= lo] + ([r.started_at < hi] if hi is not None else [])
    ok = func.sum(case_when(r.status == RunStatus.SUCCEEDED.value))
    done = func.sum(case_when(r.status.in_([s.value for s in FINISHED_STATUSES])))
    if session.get_bind().dialect.name == "postgresql":
        pct = [func.percentile_cont(q).within_group(r.duration_ms) for q in (0.5, 0.95, 0.99)]
        rows = session.execute(
            select(r.pipeline, bucket, func.count(r.duration_ms), *pct, done, ok)
            .where(*conds)
            .group_by(r.pipeline, bucket)
        ).all()
        return [
            bucket_row(p, from_epoch(b), size, n, p50, p95, p99, fin, succ)
            for p, b, n, p50, p95, p99, fin, succ in rows
        ]
    grouped: dict[tuple[str, float], list[Any]] = {}
    for p, b, ms, status in session.execute(
        select(r.pipeline, bucket, r.duration_ms, r.status).where(*conds).order_by(r.duration_ms)
    ):
        g = grouped.setdefault((p, b), [[], 0, 0])
        if ms is not None:
            g[0].append(float(ms))
        g[1] += status in FINISHED_STATUSES
        g[2] += status == RunStatus.SUCCEEDED
    return [
        bucket_row(
            p,
            from_epoch(b),
            size,
            len(v),
            percentile(v, 0.5),
            percentile(v, 0.95),
            percentile(v, 0.99),
            f,
            s,
        )
        for (p, b), (v, f, s) in grouped.items()
    ]


def _with_markers(
    session: Session, lo: datetime, hi: datetime, size: timedelta
) -> list[dict[str, Any]]:
    rows = rows_from_ledger(session, lo, hi, size)
    return rows + [bucket_row(MARKER, t, size) for t in slices(lo, hi, size)]


def refresh(session: Session, now: datetime, reach: Mapping[timedelta, timedelta]) -> int:
    """For each bucket size and how far back its charts look, store the settled buckets that
    have no rows yet (committing chunk by chunk) and drop the ones no chart reaches any more;
    buckets stored."""
    return refresh_sized(
        session,
        now,
        reach,
        RollupRunBucket,
        RollupRunBucket.bucket_start,
        PipelineRun.started_at,
        _with_markers,
    )


def settled_rows(
    session: Session, lo: datetime, hi: datetime, size: timedelta
) -> list[dict[str, Any]]:
    """Bucket rows of the whole buckets in [lo, hi): stored ones from the rollup, the ones not
    stored yet computed from the ledger (never stored here: reads do not write)."""
    b = RollupRunBucket
    size_s = int(size.total_seconds())
    out: list[dict[str, Any]] = []
    marked: list[datetime] = []
    for s in session.scalars(
        select(b).where(b.size_s == size_s, b.bucket_start >= lo, b.bucket_start < hi)
    ):
        start = aware(s.bucket_start)
        if s.pipeline == MARKER:
            marked.append(start)
            continue
        out.append(
            bucket_row(
                s.pipeline,
                start,
                size,
                s.timed,
                s.p50_ms,
                s.p95_ms,
                s.p99_ms,
                s.finished,
                s.succeeded,
            )
        )
    for a, z in gaps(marked, lo, hi, size):
        out += rows_from_ledger(session, a, z, size)
    return out
