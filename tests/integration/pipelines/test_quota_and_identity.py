"""The quota plan inside collection (paid /odds held, free /events instead, the reserve kept,
the alert), game keys without a schedule in a cold process, and start-time conflicts logged.
Real HTTP clients against the local feed server; both databases; an injected clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.models import Alert, Game, GameLink, QuotaSample, SourceState
from app.pipelines.build import build_context
from app.pipelines.quota import QuotaPlan
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.mlb_statsapi import MlbStatsApiSource
from app.pipelines.sources.odds_api import OddsApiSource
from scheduler.alerts import AlertBook
from tests.integration.sources import real_day
from tests.integration.sources.feed_server import (
    EVENTS_PATH,
    ODDS_PATH,
    SCHEDULE_PATH,
    FeedServer,
    events_of,
)

T0 = datetime(2024, 7, 13, 22, 50, tzinfo=UTC)  # 15 minutes before BOS@NYY's first pitch


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def _quota(remaining: int) -> dict[str, str]:
    return {
        "x-requests-remaining": str(remaining),
        "x-requests-used": "100",
        "x-requests-last": "3",
    }


def _context(app: Any, db: Any, clock: Clock, *sources: Any, plan: QuotaPlan | None) -> Any:
    ctx = build_context(
        app.extensions["dugout.settings"],
        db.sessionmaker,
        clock=clock,
        sources=list(sources),
        alerts=AlertBook(db.sessionmaker, clock),
    )
    ctx.quota_plan = plan
    return ctx


def _paths(feed: FeedServer) -> list[str]:
    return [r.path for r in feed.requests if r.path.startswith("/v4/")]


def test_the_plan_holds_paid_polls_uses_free_events_and_keeps_the_reserve(app, db, feed) -> None:
    clock = Clock(T0)
    odds_payload = real_day.odds_1600()
    feed.serve_json(ODDS_PATH, odds_payload, headers=_quota(19_000))
    feed.serve_json(EVENTS_PATH, events_of(odds_payload), headers=_quota(19_000))
    odds = OddsApiSource("k-0123456789", base_url=feed.base_url, timeout=2.0, scores_days_from=None)
    plan = QuotaPlan(monthly_credits=20_000, reserve_credits=1_000)
    ctx = _context(app, db, clock, odds, plan=plan)
    try:
        first = run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
        clock.now += timedelta(seconds=10)  # within the hot band's 30 s: not due
        held = run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
        clock.now += timedelta(seconds=30)
        due = run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)

        assert [first.status, held.status, due.status] == ["succeeded"] * 3
        assert _paths(feed) == [ODDS_PATH, EVENTS_PATH, ODDS_PATH]
        assert (
            "quota plan: paid requests held"
            in held.summary["collect"]["deferred_sources"]["odds_api"]
        )
        with db.session() as s:
            state = s.get(SourceState, "odds_api")
            assert state.last_poll_at == clock.now and state.next_poll_at > clock.now
            assert s.scalar(select(Alert.id).where(Alert.key == "quota:odds_api")) is None

        # the feed reports the reserve reached: the alert fires and no paid call is made
        feed.serve_json(ODDS_PATH, odds_payload, headers=_quota(1_000))
        feed.serve_json(EVENTS_PATH, events_of(odds_payload), headers=_quota(1_000))  # one account
        clock.now += timedelta(minutes=5)
        run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
        clock.now += timedelta(minutes=5)
        feed.requests.clear()
        after = run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
    finally:
        odds.close()
    assert after.status == "succeeded" and _paths(feed) == [EVENTS_PATH]
    assert "reserve reached" in after.summary["collect"]["deferred_sources"]["odds_api"]
    with db.session() as s:
        alert = s.scalars(select(Alert).where(Alert.key == "quota:odds_api")).one()
        assert alert.status == "firing" and "reserve" in alert.title
        assert [r for (r,) in s.execute(select(QuotaSample.remaining).order_by(QuotaSample.at))][
            -1
        ] == 1_000


def test_a_lone_nightcap_without_a_schedule_in_a_cold_process(app, db, feed) -> None:
    """No MLB source at all: game 1's event was linked before the restart; the nightcap's event,
    listed alone afterwards, must not take game 1's key."""
    clock = Clock(datetime(2024, 7, 13, 15, 0, tzinfo=UTC))
    made: list[Any] = []

    def cold_run() -> Any:
        odds = OddsApiSource(
            "k-0123456789", base_url=feed.base_url, timeout=2.0, scores_days_from=None
        )
        made.append(odds)
        return run_pipeline(
            _context(app, db, clock, odds, plan=None),
            "collection",
            "schedule",
            scheduled_for=clock.now,
        )

    try:
        assert cold_run().status == "succeeded"  # the recorded payload: both games listed
        nightcap = [e for e in feed.payload("odds_mlb.json") if e["id"].startswith("0b2a")]
        feed.serve_json(ODDS_PATH, nightcap)
        clock.now += timedelta(hours=3)
        assert cold_run().status == "succeeded"
    finally:
        for odds in made:
            odds.close()
    with db.session() as s:
        link = s.get(GameLink, ("odds_api", nightcap[0]["id"]))
        assert link.game_key == "2024-07-13-CWS@DET-2" and not link.confirmed


def test_start_times_the_odds_feed_wins_and_conflicts_are_logged(app, db, feed, caplog) -> None:
    clock = Clock(datetime(2024, 7, 13, 16, 0, tzinfo=UTC))
    feed.serve_json(ODDS_PATH, real_day.odds_1600(), headers=_quota(19_000))
    schedule = real_day.schedule_before(final_game1=False)
    nyy = schedule["dates"][0]["games"][0]
    nyy["gameDate"] = "2024-07-13T23:10:00Z"  # MLB says 23:10, the odds feed 23:05
    feed.serve_json(SCHEDULE_PATH, schedule)
    odds = OddsApiSource("k-0123456789", base_url=feed.base_url, timeout=2.0, scores_days_from=None)
    mlb = MlbStatsApiSource(base_url=feed.base_url, timeout=2.0)
    try:
        with caplog.at_level(logging.INFO, logger="dugout.pipelines.store"):
            for _ in range(2):
                ctx = _context(app, db, clock, odds, mlb, plan=None)
                assert (
                    run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now).status
                    == "succeeded"
                )
                clock.now += timedelta(minutes=1)
    finally:
        odds.close()
        mlb.close()
    with db.session() as s:
        game = s.scalars(select(Game).where(Game.game_key == "2024-07-13-BOS@NYY")).one()
    assert game.commence_time == datetime(2024, 7, 13, 23, 5, tzinfo=UTC)
    assert game.start_time_source == "odds"
    conflicts = [
        r for r in caplog.records if r.getMessage() == "start times disagree: The Odds API wins"
    ]
    assert conflicts and conflicts[0].odds_commence_time == "2024-07-13T23:05:00+00:00"
    assert conflicts[0].schedule_commence_time == "2024-07-13T23:10:00+00:00"
