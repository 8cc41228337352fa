"""Recent history of the demo market, replayed as real runs (`dugout demo seed`, a first start).

The replay runs the real pipelines on a clock that walks the past minute by minute, on the
scheduler's tick grid, and writes through the run ledger's batch entry. It stops where the
ledger's own history begins (the first run not made by a seed), so a seed beside a live server
that has already collected fills in the hours before it instead of doubling them; the reads a
run makes take only what was known at its `now`, so the history is the same either way.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import OpportunityRow, PipelineRun
from app.vocabulary import Pipeline, Trigger

log = logging.getLogger("dugout.pipelines.seeding")
Progress = Callable[[int, int], None]  # (ticks done, ticks in all)
FLUSH_EVERY = 30  # ticks written per transaction
# Allocations between young collections during a replay (Python's default is 700). A replay
# makes millions of short-lived rows, quotes and statements; at 700 a 30 h seed's process ran
# 887 young, 81 middle and 7 full collections (the full ones walk the replay's whole state),
# 2.0 s of GC, against 340 young, 31 middle, 2 full and 0.5 s with this threshold on the replay.
# Most young objects are freed by reference counting anyway; what cycles there are wait at most
# this many allocations.
REPLAY_GC_YOUNG = 50_000


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What a replay wrote: runs, new opportunities, and the span it covered."""

    runs: int
    opportunities: int
    start: datetime
    stop: datetime
    markets_reused: int = 0  # market analyses carried from the tick before (incremental)


class ReplayClock:
    """A clock the replay moves forward."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextlib.contextmanager
def replay_gc(young: int = REPLAY_GC_YOUNG) -> Iterator[None]:
    """Collect the young generation every `young` allocations while a replay runs; the
    process's thresholds are restored after, whatever happens."""
    before = gc.get_threshold()
    gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def seed_ticks(start: datetime, stop: datetime, step_s: int) -> list[datetime]:
    """Ticks every `step_s` on the epoch's grid (the scheduler's too: its anchor lies on it)
    from `start` up to, not including, `stop`: a second seed over the same hours finds its
    ticks taken."""
    first = datetime.fromtimestamp(math.ceil(start.timestamp() / step_s) * step_s, UTC)
    ticks, moment = [], first
    while moment < stop:
        ticks.append(moment)
        moment += timedelta(seconds=step_s)
    return ticks


def history_begins(session: Session, start: datetime, end: datetime) -> datetime:
    """Where the replay stops: the first run in [start, end] that no seed made, else `end`."""
    first = session.scalar(
        select(func.min(PipelineRun.created_at)).where(
            PipelineRun.trigger != Trigger.SEED.value,
            PipelineRun.created_at >= start,
            PipelineRun.created_at <= end,
        )
    )
    if first is None:
        return end
    from app.rollups.slices import aware

    return aware(first)


def seed_history(
    settings: Any,
    sessions: sessionmaker[Session],
    *,
    end: datetime,
    hours: float,
    step_s: int = 60,
    actor: str = "seed",
    progress: Progress | None = None,
    incremental: bool = True,
) -> SeedReport:
    """Replay the demo market's last `hours` before `end` as full runs (trigger `seed`).

    `incremental` analyses only the markets whose inputs changed since the previous tick (the
    same opportunities: app.pipelines.analysis_memo) and keeps the quote and split windows in
    memory from what the replay itself stores (app.pipelines.history: it is the only writer of
    its hours), reading the database for them once; else every tick reads both windows and
    analyses every market, as a live run does."""
    from app.pipelines.analysis_memo import AnalysisMemo
    from app.pipelines.build import build_context, build_sources, demo_day_for
    from app.pipelines.history import ReplayQuoteHistory, SplitWindow
    from app.pipelines.ledger import RunBatch
    from app.pipelines.runner import run_pipeline
    from app.rollups.slices import aware

    start = end - timedelta(hours=hours)
    with sessions() as session:
        stop = history_begins(session, start, end)
        before = session.scalar(select(func.count()).select_from(OpportunityRow)) or 0
        taken = {
            aware(t)
            for t in session.scalars(
                select(PipelineRun.scheduled_for).where(
                    PipelineRun.pipeline == Pipeline.FULL.value,
                    PipelineRun.scheduled_for >= start,
                    PipelineRun.scheduled_for < stop,
                )
            )
            if t is not None
        }
    ticks = [t for t in seed_ticks(start, stop, step_s) if t not in taken]  # seeded before
    clock = ReplayClock(ticks[0] if ticks else start)
    rolling = settings.demo_hours == "rolling"  # one source holds every slate
    day = demo_day_for(clock.now)
    pctx = build_context(
        settings,
        sessions,
        clock=clock,
        sources=build_sources(settings) if rolling else build_sources(settings, day=day),
    )
    memo = pctx.analysis_memo = AnalysisMemo() if incremental else None
    if incremental:  # the replay stores every quote and split its reads need: keep them
        pctx.history, pctx.split_window = ReplayQuoteHistory(), SplitWindow()
    with replay_gc(), RunBatch(sessions) as batch:
        pctx.sessions = batch.sessions
        for done, tick in enumerate(ticks, 1):
            clock.now = tick
            if not rolling and demo_day_for(tick) != day:  # the next slate opens: replay it
                day = demo_day_for(tick)
                pctx.sources = build_sources(settings, day=day)
            run_pipeline(
                pctx, Pipeline.FULL, Trigger.SEED, scheduled_for=tick, actor=actor, batch=batch
            )
            if done % FLUSH_EVERY == 0:
                batch.flush()  # a server beside the seed waits at most this long to write
            if progress is not None:
                progress(done, len(ticks))
    runs = batch.flushed
    with sessions() as session:
        after = session.scalar(select(func.count()).select_from(OpportunityRow)) or 0
    return SeedReport(runs, after - before, start, stop, memo.reused if memo else 0)
