"""Pipelines end to end on the real database: a demo day replayed with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import (
    Grade,
    OpportunityRow,
    PipelineRun,
    QuarantinedRow,
    QuoteRow,
    Recommendation,
    SourceSnapshot,
    SourceState,
    StageRun,
)
from app.pipelines.context import PipelineContext, PipelineSettings
from app.pipelines.runner import DuplicateTick, run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.strategies import build_strategies
from app.queries.strategies import strategy_performance


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _count(db, model, *where) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def demo() -> DemoSource:
    return DemoSource(seed=7, day=datetime(2026, 7, 4).date())


@pytest.fixture
def clock(demo) -> Clock:
    first_pitch = min(
        g.commence_time for g in demo.fetch(datetime(2026, 7, 5, 12, tzinfo=UTC)).games
    )
    return Clock(first_pitch - timedelta(hours=2))


@pytest.fixture
def ctx(db, demo, clock) -> PipelineContext:
    return PipelineContext(
        sessions=db.sessionmaker,
        clock=clock,
        settings=PipelineSettings(),
        sources=[demo],
        strategies=build_strategies(),
    )


def test_full_run_writes_ledger_and_finds_opportunities(ctx, db, clock) -> None:
    for _ in range(20):  # twenty one-minute ticks give the strategies some history
        result = run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now)
        clock.now += timedelta(minutes=1)
    assert result.status in {"succeeded", "partial"}
    with db.session() as s:
        run = s.get(PipelineRun, result.run_id)
        assert run.started_at and run.finished_at and run.duration_ms > 0
        stages = s.scalars(
            select(StageRun).where(StageRun.run_id == run.id).order_by(StageRun.started_at)
        ).all()
        # the injected clock gives every stage the same start, so the rows' own order is
        # arbitrary (PostgreSQL's page pruning reorders ties): each stage once, starts in order
        order = ["collect", "analyze", "recommend", "grade"]
        assert sorted(st.stage for st in stages) == sorted(order)
        starts = {st.stage: st.started_at for st in stages}
        assert [starts[name] for name in order] == sorted(starts.values())
        assert next(st for st in stages if st.stage == "collect").records_in > 0
    assert _count(db, OpportunityRow) > 0
    assert _count(db, Recommendation) > 0
    with db.session() as s:  # one recommendation per (game, market, side, strategy)
        dupes = s.execute(
            select(
                Recommendation.game_key,
                Recommendation.market,
                Recommendation.side,
                Recommendation.strategy,
                func.count(),
            )
            .group_by(
                Recommendation.game_key,
                Recommendation.market,
                Recommendation.side,
                Recommendation.strategy,
            )
            .having(func.count() > 1)
        ).all()
        assert dupes == []
        latencies = s.scalars(select(OpportunityRow.latency_ms)).all()
        assert all(lat >= 0 for lat in latencies)


def test_scheduled_tick_runs_once(ctx, clock) -> None:
    tick = clock.now.replace(second=0, microsecond=0)
    run_pipeline(ctx, "collection", "schedule", scheduled_for=tick)
    with pytest.raises(DuplicateTick):
        run_pipeline(ctx, "collection", "schedule", scheduled_for=tick)


def test_same_snapshot_is_stored_once(ctx, db, clock) -> None:
    run_pipeline(ctx, "collection", "manual")
    snapshots, quotes = _count(db, SourceSnapshot), _count(db, QuoteRow)
    run_pipeline(ctx, "collection", "manual")  # same clock: identical content
    assert _count(db, SourceSnapshot) == snapshots and _count(db, QuoteRow) == quotes
    ctx.seen_quotes.clear()  # a new process with a cold cache still stores nothing twice
    clock.now += timedelta(seconds=1)
    run_pipeline(ctx, "collection", "manual")
    with db.session() as s:
        dup = s.execute(
            select(
                QuoteRow.game_key,
                QuoteRow.book,
                QuoteRow.market,
                QuoteRow.side,
                QuoteRow.last_update,
                func.count(),
            )
            .group_by(
                QuoteRow.game_key,
                QuoteRow.book,
                QuoteRow.market,
                QuoteRow.side,
                QuoteRow.last_update,
            )
            .having(func.count() > 1)
        ).all()
    assert dup == []


def test_latest_never_goes_backwards(ctx, db, clock) -> None:
    later = clock.now
    run_pipeline(ctx, "collection", "manual")
    with db.session() as s:
        newest = s.get(SourceState, "demo").newest_update_at
    clock.now = later - timedelta(minutes=30)  # an out-of-order, older snapshot arrives
    run_pipeline(ctx, "collection", "manual")
    with db.session() as s:
        assert s.get(SourceState, "demo").newest_update_at == newest


def test_malformed_rows_are_quarantined_with_reason(ctx, db, clock) -> None:
    for _ in range(30):
        run_pipeline(ctx, "collection", "manual")
        clock.now += timedelta(minutes=10)
    with db.session() as s:
        rows = s.scalars(select(QuarantinedRow)).all()
    assert rows, "the demo source produces some malformed rows over a day"
    assert all(r.source == "demo" and r.field and r.reason for r in rows)


def test_stale_data_is_not_analysed(ctx, db, clock) -> None:
    run_pipeline(ctx, "collection", "manual")
    clock.now += timedelta(hours=30)  # every game started long ago; data is old
    result = run_pipeline(ctx, "analysis", "manual")
    assert result.status == "skipped"
    assert "stale" in str(result.summary) or "no fresh source" in str(result.summary)


def test_a_demo_day_is_graded(ctx, db, clock) -> None:
    end = clock.now + timedelta(hours=14)
    while clock.now < end:
        run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now)
        clock.now += timedelta(minutes=15)
    assert _count(db, Grade) > 0
    with db.session() as s:
        perf = strategy_performance(s)
        closed = s.scalars(select(Recommendation).where(Recommendation.clv.is_not(None))).all()
    assert perf and all(p.bets >= 0 for p in perf)
    assert any(p.bets > 0 and p.roi is not None for p in perf)
    assert closed, "closing lines are captured at first pitch"


def test_two_first_collections_at_once_share_one_source_state_row(pg_database) -> None:
    """Two workers' first runs insert the same source state: the second waits for the first
    and reads its row instead of failing on the primary key (PostgreSQL: the Celery case)."""
    import threading

    from sqlalchemy import text
    from sqlalchemy.orm import sessionmaker

    from app.db import build_engine
    from app.pipelines.stages.collect import _state
    from tests.conftest import _truncate_all

    _truncate_all(pg_database)
    engine = build_engine(pg_database)
    sessions = sessionmaker(engine, expire_on_commit=False)
    first = sessions()
    _state(first, "demo").last_fetch_at = datetime(2026, 7, 4, 12, tzinfo=UTC)
    first.flush()  # inserted, not committed
    outcome: list[object] = []

    def second() -> None:
        try:
            with sessions.begin() as session:
                outcome.append(_state(session, "demo").last_fetch_at)
        except Exception as exc:  # the old add-then-flush raised IntegrityError here
            outcome.append(exc)

    worker = threading.Thread(target=second)
    worker.start()
    with engine.connect() as probe:  # wait until the second insert waits on the first's row
        for _ in range(2000):
            waiting = probe.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting.scalar():
                break
            probe.rollback()
            worker.join(0.005)
        else:
            pytest.fail("the second run never waited on the first one's insert")
    first.commit()
    first.close()
    worker.join(10)
    engine.dispose()
    assert outcome == [datetime(2026, 7, 4, 12, tzinfo=UTC)]


def test_a_re_pick_on_a_flagged_side_is_dated_by_the_change_that_made_it(db) -> None:
    """The best book on a side already flagged changes because the flagged book moved away:
    the new row's data became available with that move (not with its own older inputs, nor
    with an unrelated book's later update)."""
    from app.pipelines.market import MarketIndex
    from app.pipelines.stages.analyze import date_repicks
    from app.pipelines.types import Game, MarketState, Quote

    now = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)
    game = Game("g1", "NYY", "BOS", now + timedelta(hours=1))
    quotes = [  # circa is best until draftkings shortens at 17:59:50
        Quote("g1", "h2h", "home", "circa", 120, None, now - timedelta(minutes=30)),
        Quote("g1", "h2h", "home", "draftkings", 125, None, now - timedelta(minutes=20)),
        Quote("g1", "h2h", "home", "draftkings", 110, None, now - timedelta(seconds=10)),
        Quote("g1", "h2h", "home", "fanduel", 105, None, now - timedelta(seconds=5)),  # unrelated
        Quote("g1", "h2h", "away", "circa", -140, None, now - timedelta(minutes=40)),
    ]
    state = MarketState({"g1": game}, quotes, [], frozenset())
    index = MarketIndex.build(state, now)
    with db.session() as s:
        s.add(  # the ev strategy flagged g1 home at draftkings five minutes ago
            OpportunityRow(
                strategy="ev",
                game_key="g1",
                market="h2h",
                side="home",
                book="draftkings",
                price=125,
                ev=0.03,
                kelly_fraction=0.01,
                data_available_at=now - timedelta(minutes=20),
                detected_at=now - timedelta(minutes=5),
                latency_ms=20.0,
                explanation="x",
                fingerprint="f" * 64,
            )
        )

    def row(strategy: str, side: str, book: str, minutes: int) -> dict:
        return {
            "strategy": strategy,
            "game_key": "g1",
            "market": "h2h",
            "side": side,
            "book": book,
            "point": None,
            "data_available_at": now - timedelta(minutes=minutes),
            "detected_at": now,
            "latency_ms": minutes * 60_000.0,
        }

    repick, other_strategy, other_side = (
        row("ev", "home", "circa", 30),
        row("steam", "home", "circa", 30),
        row("ev", "away", "circa", 40),
    )
    with db.session() as s:
        date_repicks(s, [repick, other_strategy, other_side], index, now - timedelta(hours=3))
    assert repick["data_available_at"] == now - timedelta(seconds=10)
    assert repick["latency_ms"] == 10_000.0
    assert (other_strategy["latency_ms"], other_side["latency_ms"]) == (1_800_000.0, 2_400_000.0)
    assert other_strategy["data_available_at"] == now - timedelta(minutes=30)  # a first sighting
    assert other_side["data_available_at"] == now - timedelta(minutes=40)


def test_an_empty_answer_is_a_closed_market_only_when_no_game_is_due(ctx, db, clock) -> None:
    """After the last first pitch the demo answers with nothing: the collect stage marks the
    market closed (no freshness event). The same empty answer while a game is due within six
    hours is a failing feed, and stays a freshness event."""
    from app.models import Game as GameRow

    clock.now += timedelta(hours=20)  # long after every game of the demo day started
    quiet = run_pipeline(ctx, "collection", "manual")
    with db.session() as s:
        stage = s.scalars(select(StageRun).where(StageRun.run_id == quiet.run_id)).one()
        assert (stage.status, stage.records_in) == ("succeeded", 0)
        assert stage.detail.get("market_closed") is True
        s.add(
            GameRow(
                game_key="late-game",
                home="SEA",
                away="OAK",
                commence_time=clock.now + timedelta(hours=2),
                status="scheduled",
            )
        )
    clock.now += timedelta(minutes=1)
    empty = run_pipeline(ctx, "collection", "manual")
    with db.session() as s:
        stage = s.scalars(select(StageRun).where(StageRun.run_id == empty.run_id)).one()
        assert stage.records_in == 0 and "market_closed" not in stage.detail


def test_a_fetch_success_moves_state_times_forward_only(db) -> None:
    """The success UPDATE decides "never back" in the database: an earlier fetch (a replay of
    the past beside a live server) leaves later times alone, a later one moves them, and a
    kind the batch did not carry keeps its time (both databases)."""
    from app.models import SourceState
    from app.pipelines.stages.collect import record_success

    t = datetime(2026, 7, 4, 12, tzinfo=UTC)
    with db.session() as s:
        first = record_success(s, "demo", t, newest_quote=t, provides=["quotes"])
    assert (first.last_fetch_at, first.newest_quote_at, first.newest_split_at) == (t, t, None)
    with db.session() as s:  # the past: fetched earlier, older quotes, but first splits
        past = record_success(
            s,
            "demo",
            t - timedelta(hours=1),
            newest_quote=t - timedelta(hours=2),
            newest_split=t - timedelta(hours=1),
        )
    assert past.last_fetch_at == t and past.newest_quote_at == t
    assert past.newest_split_at == t - timedelta(hours=1)
    assert past.newest_update_at == t  # the newest of both kinds, never moved back
    later = t + timedelta(minutes=1)
    with db.session() as s:
        s.get(SourceState, "demo").consecutive_failures = 3  # a failing streak ends
        s.flush()
        now_row = record_success(s, "demo", later, quota={"remaining": 7, "used": 3})
    with db.session() as s:
        stored = s.get(SourceState, "demo")
        assert (stored.last_fetch_at, stored.last_success_at) == (later, later)
        assert stored.newest_quote_at == t and stored.consecutive_failures == 0
        assert (stored.quota_remaining, stored.quota_used) == (7, 3)
        assert stored.provides == ["quotes"]  # not given: kept
    assert now_row.newest_update_at == t
