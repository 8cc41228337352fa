"""Pipeline benchmark: a demo day replayed, detection latency, and scaling 1x / 4x / 16x.

Prints figures; asserts nothing about time. Run: .venv/bin/python bench/pipelines.py
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.db import Database
from app.migrate import upgrade
from app.models import OpportunityRow, StageRun
from app.pipelines.context import PipelineContext
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.strategies import build_strategies

DAY = date(2026, 7, 4)
BUSY_FROM = datetime(2026, 7, 4, 14, 0, tzinfo=UTC)  # three hours before the first pitch


class ReplayClock:
    """Simulated time that starts at each tick and then runs with the wall clock, so a
    detection's timestamp includes the time the pipeline really took."""

    def __init__(self) -> None:
        self.tick = BUSY_FROM
        self.wall = time.perf_counter()

    def set(self, tick: datetime) -> None:
        self.tick, self.wall = tick, time.perf_counter()

    def __call__(self) -> datetime:
        return self.tick + timedelta(seconds=time.perf_counter() - self.wall)


def fresh_context(
    scale: int, tmp: Path, name: str
) -> tuple[PipelineContext, Database, ReplayClock, DemoSource]:
    db = Database(f"sqlite:///{tmp / name}.sqlite3")
    assert db.engine is not None and db.sessionmaker is not None
    upgrade(db.engine)
    clock = ReplayClock()
    demo = DemoSource(seed=42, day=DAY, scale=scale)
    ctx = PipelineContext(
        sessions=db.sessionmaker, clock=clock, sources=[demo], strategies=build_strategies()
    )
    return ctx, db, clock, demo


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def replay(ctx: PipelineContext, clock: ReplayClock, ticks: list[datetime]) -> list[float]:
    """Run `full` at each tick; wall seconds per tick."""
    took = []
    for tick in ticks:
        clock.set(tick)
        started = time.perf_counter()
        run_pipeline(ctx, "full", "schedule", scheduled_for=tick)
        took.append(time.perf_counter() - started)
    return took


def full_day(tmp: Path) -> None:
    ctx, db, clock, demo = fresh_context(1, tmp, "day")
    ticks = list(demo.replay_times(step=timedelta(minutes=2)))
    started = time.perf_counter()
    took = replay(ctx, clock, ticks)
    total = time.perf_counter() - started
    print(f"\n== A demo day replayed (1x, {len(ticks)} ticks every 2 min, SQLite) ==")
    print(
        f"wall {total:.1f} s; per tick mean {statistics.fmean(took) * 1000:.1f} ms, "
        f"p95 {pct(took, 0.95) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms"
    )
    with db.session() as s:
        rows = s.execute(select(StageRun.stage, StageRun.duration_ms)).all()
        by_strategy = s.execute(
            select(OpportunityRow.strategy, func.count()).group_by(OpportunityRow.strategy)
        ).all()
    for stage in ("collect", "analyze", "recommend", "grade"):
        ms = [r[1] for r in rows if r[0] == stage and r[1] is not None]
        print(f"  stage {stage:9} mean {statistics.fmean(ms):7.1f} ms  p95 {pct(ms, 0.95):7.1f} ms")
    print("  opportunities by strategy: " + ", ".join(f"{k} {v}" for k, v in by_strategy))


def change_times(demo: DemoSource, start: datetime, end: datetime) -> list[datetime]:
    """When the demo market changed between start and end (read off each quote's last_update
    and each split's as_of, sampled finer than the market moves so none is overwritten unseen)."""
    seen: set[datetime] = set()
    moment = start
    while moment <= end:
        batch = demo.fetch(moment)
        seen.update(q.last_update for q in batch.quotes if start < q.last_update <= end)
        seen.update(s.as_of for s in batch.splits if start < s.as_of <= end)
        moment += timedelta(seconds=5)
    return sorted(seen)


def detection_latency(tmp: Path) -> None:
    ctx, db, clock, demo = fresh_context(1, tmp, "latency")
    replay(ctx, clock, [BUSY_FROM - timedelta(minutes=m) for m in range(60, 0, -2)])  # warm up
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(OpportunityRow)) or 0
    ticks = change_times(demo, BUSY_FROM, BUSY_FROM + timedelta(hours=1))
    replay(ctx, clock, ticks)
    with db.session() as s:
        rows = s.execute(
            select(OpportunityRow.strategy, OpportunityRow.latency_ms).where(
                OpportunityRow.detected_at >= BUSY_FROM
            )
        ).all()
    lat = [ms / 1000 for _, ms in rows]
    print(
        f"\n== Detection latency (1x, SQLite; a run at each of the {len(ticks)} market changes "
        "in a busy hour) =="
    )
    print(
        f"{len(lat)} opportunities (after {before} during warm-up): p50 {pct(lat, 0.5):.3f} s, "
        f"p95 {pct(lat, 0.95):.3f} s, p99 {pct(lat, 0.99):.3f} s, max {max(lat or [0]):.3f} s"
    )
    for strategy in sorted({r[0] for r in rows}):
        values = [ms / 1000 for name, ms in rows if name == strategy]
        print(
            f"  {strategy:22} n={len(values):4}  p50 {pct(values, 0.5):7.3f} s  "
            f"p99 {pct(values, 0.99):7.3f} s"
        )


def scaling(tmp: Path) -> None:
    print("\n== Scaling: the same busy 20 minutes at 1x / 4x / 16x the slate (SQLite) ==")
    per_quote: dict[int, float] = {}
    for scale in (1, 4, 16):
        ctx, _db, clock, demo = fresh_context(scale, tmp, f"scale{scale}")
        warm = [BUSY_FROM - timedelta(minutes=m) for m in range(30, 0, -3)]
        replay(ctx, clock, warm)
        ticks = [BUSY_FROM + timedelta(minutes=m) for m in range(20)]
        quotes = sum(len(demo.fetch(t).quotes) for t in ticks)
        took = replay(ctx, clock, ticks)
        per_quote[scale] = sum(took) / quotes
        print(
            f"  {scale:2}x: {len(demo.games):3} games, {len(demo.books):2} books, "
            f"{quotes / len(ticks):7.0f} quotes/tick, {statistics.fmean(took) * 1000:8.1f} ms/tick, "
            f"{per_quote[scale] * 1e6:6.1f} us/quote"
        )
    print(f"  time per quote 16x / 1x = {per_quote[16] / per_quote[1]:.2f} (target <= 1.2)")


def main() -> None:
    logging.disable(logging.INFO)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dugout-bench-") as tmp:
        if "--only-latency" not in sys.argv:
            full_day(Path(tmp))
        detection_latency(Path(tmp))
        if "--only-latency" not in sys.argv:
            scaling(Path(tmp))
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
