"""Graceful degradation: one source fails (timeout, 429, 5xx, bad JSON), the demo source is still
collected, analysis runs on what is fresh, the failure is named in the run record, and the
failing source's data is reported with its real age, never as fresh."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.models import OpportunityRow, PipelineRun, SourceState, StageRun
from app.pipelines.build import build_context
from app.pipelines.context import PipelineContext
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.sources.odds_api import OddsApiSource
from app.queries.sources import source_freshness as freshness
from tests.integration.sources.feed_server import ODDS_PATH, FeedServer

T0 = datetime(2024, 7, 13, 15, 0, tzinfo=UTC)  # the recorded odds payload was fresh then
ODDS_NEWEST = datetime(2024, 7, 13, 14, 59, 3, tzinfo=UTC)  # its newest last_update
ODDS_GAMES = {
    "2024-07-13-CWS@DET",
    "2024-07-13-CWS@DET-2",
    "2024-07-13-BOS@NYY",
    "2024-07-13-LAA@ATH",
}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        """A retry's wait, recorded; the test's time stands still (assertions use the tick)."""
        self.waits.append(seconds)


def _timeout(feed: FeedServer) -> None:
    feed.hang(ODDS_PATH)


def _rate_limited(feed: FeedServer) -> None:
    feed.serve_json(
        ODDS_PATH, {"message": "quota reached"}, status=429, headers={"Retry-After": "30"}
    )


def _unavailable(feed: FeedServer) -> None:
    feed.serve_json(ODDS_PATH, {"message": "upstream down"}, status=503)


def _malformed(feed: FeedServer) -> None:
    feed.serve_body(ODDS_PATH, b'[{"id": "4c2d8e0f", "bookmakers": [')


# failure -> (how the server misbehaves, the typed error, words of its message)
FAILURES: dict[str, tuple[Callable[[FeedServer], None], str, str]] = {
    "timeout": (_timeout, "SourceTimeout", "did not answer in time"),
    "rate_limited": (_rate_limited, "SourceRateLimited", "try again in 30 s"),
    "server_error": (_unavailable, "SourceUnavailable", "HTTP 503"),
    "malformed_json": (_malformed, "SourcePayloadError", "not JSON"),
}


def arbitrage_payload(feed: FeedServer) -> list[dict[str, Any]]:
    """The recorded odds with BOS@NYY moneylines that lock in ~5.6% across two books, so
    analysis finds an opportunity in The Odds API's data whenever it treats it as fresh."""
    events = copy.deepcopy(feed.payload("odds_mlb.json"))
    game = next(e for e in events if e["home_team"] == "New York Yankees")
    prices = {("draftkings", "Boston Red Sox"): 130, ("fanduel", "New York Yankees"): -105}
    for book in game["bookmakers"]:
        for outcome in next(m for m in book["markets"] if m["key"] == "h2h")["outcomes"]:
            outcome["price"] = prices.get((book["key"], outcome["name"]), outcome["price"])
    return events


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    """The local feed server, answering The Odds API's path with the arbitrage payload."""
    server = FeedServer()
    server.start()
    server.serve_json(
        ODDS_PATH,
        arbitrage_payload(server),
        headers={"x-requests-remaining": "4985", "x-requests-used": "15", "x-requests-last": "3"},
    )
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def odds(feed: FeedServer) -> Iterator[OddsApiSource]:
    """The real Odds API client on the local server, with a short timeout: only the hung
    request waits it out (three attempts), and an answer on a busy machine comes well inside
    it (at 0.3 s a 429 was once taken for a timeout under CI's load)."""
    source = OddsApiSource(
        "test-key-0123456789", base_url=feed.base_url, timeout=2.0, scores_days_from=None
    )
    yield source
    source.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def make_ctx(app, db, clock) -> Callable[..., PipelineContext]:
    """A pipeline context from the app's settings with these sources and the test clock."""

    def factory(*sources: Any) -> PipelineContext:
        ctx = build_context(
            app.extensions["dugout.settings"],
            db.sessionmaker,
            clock=clock,
            sources=sources,
            sleep=clock.sleep,
        )
        ctx.quota_plan = None  # every tick polls here; the quota plan has its own tests
        return ctx

    return factory


@pytest.fixture
def demo() -> DemoSource:
    return DemoSource(seed=7, day=date(2024, 7, 13))


def _stage(db, run_id, name: str) -> StageRun:
    with db.session() as s:
        row = s.scalars(
            select(StageRun).where(StageRun.run_id == run_id, StageRun.stage == name)
        ).one()
        s.expunge(row)
        return row


def _state(db, source: str) -> SourceState:
    with db.session() as s:
        row = s.get(SourceState, source)
        assert row is not None, source
        s.expunge(row)
        return row


def _opportunity_games(db, run_id) -> set[str]:
    with db.session() as s:
        return set(
            s.scalars(select(OpportunityRow.game_key).where(OpportunityRow.run_id == run_id))
        )


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they are stored as UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failing_source_degrades_the_run_not_the_data(
    failure, make_ctx, demo, odds, feed, clock, db
) -> None:
    ctx = make_ctx(demo, odds)
    first = run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
    assert first.status == "succeeded", first.summary
    assert _state(db, "odds_api").quota_remaining == 4985

    misbehave, error_type, words = FAILURES[failure]
    misbehave(feed)
    clock.now = T0 + timedelta(minutes=10)  # The Odds API's data is now 657 s old
    result = run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now)

    # the run is degraded, not failed, and names the failing source
    assert result.status == "partial"
    collect = _stage(db, result.run_id, "collect")
    assert collect.status == "partial"
    assert collect.detail["failed_sources"]["odds_api"].startswith(f"{error_type}: ")
    assert words in collect.detail["failed_sources"]["odds_api"]
    assert "odds_api" in collect.error_message and words in collect.error_message
    with db.session() as s:
        run = s.get(PipelineRun, result.run_id)
        assert run.status == "partial"
        assert run.error_message.startswith("collect: odds_api: ") and words in run.error_message
        assert run.summary["collect"]["failed_sources"] == collect.detail["failed_sources"]

    # the demo source was still collected, at this tick
    demo_counts = collect.detail["sources"]["demo"]
    assert demo_counts["stored_quotes"] > 0 and demo_counts["freshness_s"] < 60
    demo_state = _state(db, "demo")
    assert _aware(demo_state.last_success_at) == clock.now and demo_state.last_error is None

    # source_states records the error and keeps the failing source's data where it was
    odds_state = _state(db, "odds_api")
    assert odds_state.last_error_type == error_type and words in odds_state.last_error
    assert _aware(odds_state.last_fetch_at) == clock.now
    assert _aware(odds_state.last_success_at) == T0
    assert _aware(odds_state.newest_update_at) == ODDS_NEWEST

    # analysis ran on what is fresh: the demo market only
    analyze = _stage(db, result.run_id, "analyze")
    assert analyze.status == "partial"
    assert analyze.detail["stale_sources"] == {"odds_api": "newest data is 657 s old"}
    games = _opportunity_games(db, result.run_id)
    assert games, "the demo market still yields opportunities"
    assert not games & ODDS_GAMES, "stale Odds API prices were analysed as if fresh"

    # and anything that reports freshness gives the failing source its real age
    with db.session() as s:
        ages = {row["source"]: row for row in freshness(s, clock.now)}
    assert ages["odds_api"]["age_s"] == 657.0
    assert ages["odds_api"]["last_error"] == odds_state.last_error
    assert ages["demo"]["age_s"] < 60


def test_a_failing_source_whose_data_is_still_fresh_is_analysed_with_its_age(
    make_ctx, demo, odds, feed, clock, db
) -> None:
    """The control for the test above: the same arbitrage is found while the data is young."""
    ctx = make_ctx(demo, odds)
    run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
    _rate_limited(feed)
    clock.now = T0 + timedelta(minutes=2)

    result = run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now)

    assert result.status == "partial"
    analyze = _stage(db, result.run_id, "analyze")
    assert analyze.status == "succeeded" and "stale_sources" not in analyze.detail
    assert "2024-07-13-BOS@NYY" in _opportunity_games(db, result.run_id)
    with db.session() as s:
        arb = s.scalars(
            select(OpportunityRow).where(
                OpportunityRow.run_id == result.run_id,
                OpportunityRow.game_key == "2024-07-13-BOS@NYY",
            )
        ).first()
        assert arb.strategy == "arbitrage"
        assert _aware(arb.data_available_at) <= ODDS_NEWEST  # the data's own time, not now
        ages = {row["source"]: row["age_s"] for row in freshness(s, clock.now)}
    assert ages["odds_api"] == 177.0


def test_when_every_source_fails_the_run_fails_and_analysis_is_skipped(
    make_ctx, odds, feed, clock, db
) -> None:
    _unavailable(feed)
    ctx = make_ctx(odds)

    alone = run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
    clock.now += timedelta(minutes=1)
    result = run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now)

    assert alone.status == "failed"
    assert result.status == "partial"  # grading does not need new odds, and it still ran
    assert [o["status"] for o in result.summary.values()] == [
        "failed",
        "skipped",
        "skipped",
        "succeeded",
    ]
    collect = _stage(db, result.run_id, "collect")
    assert (collect.status, collect.error_type) == ("failed", "AllSourcesFailed")
    analyze = _stage(db, result.run_id, "analyze")
    assert analyze.status == "skipped"
    assert analyze.detail["reason"] == "upstream stage collect failed"
    with db.session() as s:
        run = s.get(PipelineRun, result.run_id)
        assert run.error_type == "AllSourcesFailed" and "odds_api" in run.error_message
        assert s.scalars(select(OpportunityRow)).first() is None
    state = _state(db, "odds_api")
    assert state.last_error_type == "SourceUnavailable"
    assert state.newest_update_at is None and state.last_success_at is None
    with db.session() as s:
        (row,) = freshness(s, clock.now)
    assert row["age_s"] is None  # never collected: no age, not "fresh"
