"""The overview's charts: run duration percentiles and success rates per pipeline per bucket,
aggregated in SQL; long windows read their settled buckets from the bucket rollup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.rollups import run_buckets
from app.rollups.slices import floor_to, settled_before

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "1y": timedelta(days=365),
}
# About 60-120 points per chart whatever the window.
BUCKETS: dict[str, timedelta] = {
    "1h": timedelta(minutes=1),
    "24h": timedelta(minutes=15),
    "7d": timedelta(hours=3),
    "30d": timedelta(hours=12),
    "1y": timedelta(days=4),
}
# Windows whose buckets are this long or longer read settled buckets from the rollup; shorter
# ones scan their few thousand runs.
ROLLUP_FROM = timedelta(hours=3)
# Bucket size -> how far back its window looks: what the rollup keeper keeps stored.
ROLLED_BUCKETS: dict[timedelta, timedelta] = {
    BUCKETS[w]: WINDOWS[w] for w in WINDOWS if BUCKETS[w] >= ROLLUP_FROM
}


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    """Duration percentiles of one pipeline in one time bucket."""

    pipeline: str
    bucket: datetime
    runs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class RatePoint:
    """Runs and successes of one pipeline in one bucket."""

    pipeline: str
    bucket: datetime
    runs: int
    succeeded: int


def _buckets(session: Session, now: datetime, window: str) -> list[dict[str, Any]]:
    """Per pipeline and bucket: percentiles and outcomes of the runs started in the window
    (from the bucket holding the window's start when rolled up)."""
    memo = session.info.setdefault("dugout.run_buckets", {})  # latency and success share it
    if (now, window) not in memo:
        since, size = now - WINDOWS[window], BUCKETS[window]
        if size >= ROLLUP_FROM:
            lo, hi = floor_to(since, size), settled_before(now, size)
            rows = run_buckets.settled_rows(session, lo, hi, size) if lo < hi else []
            rows += run_buckets.rows_from_ledger(session, max(lo, hi), None, size)
        else:
            rows = run_buckets.rows_from_ledger(session, since, None, size)
        rows.sort(key=lambda r: (r["pipeline"], r["bucket_start"]))
        memo[(now, window)] = rows
    return memo[(now, window)]  # type: ignore[no-any-return]


def latency_series(session: Session, now: datetime, window: str) -> list[LatencyPoint]:
    """p50 / p95 / p99 run duration per pipeline per bucket over `window`."""
    return [
        LatencyPoint(
            r["pipeline"],
            r["bucket_start"],
            r["timed"],
            float(r["p50_ms"]),
            float(r["p95_ms"]),
            float(r["p99_ms"]),
        )
        for r in _buckets(session, now, window)
        if r["timed"]
    ]


def success_series(session: Session, now: datetime, window: str) -> list[RatePoint]:
    """Finished runs and successes per pipeline per bucket."""
    return [
        RatePoint(r["pipeline"], r["bucket_start"], r["finished"], r["succeeded"])
        for r in _buckets(session, now, window)
        if r["finished"]
    ]
