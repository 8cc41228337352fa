"""A recorded-format real day through the real httpx clients, a local HTTP server and the ledger:
game keys from the schedule in cold processes, the close (price and line CLV) computed at
grading when no recommend stage ran after first pitch, house rules, hostile identifiers, a 429
with Retry-After honoured, and the run statuses. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.models import Game, GameLink, Grade, PipelineRun, QuarantinedRow, QuoteRow, Recommendation
from app.pipelines.build import build_context
from app.pipelines.odds import american_to_decimal, devig_multiplicative
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.mlb_statsapi import MlbStatsApiSource
from app.pipelines.sources.odds_api import OddsApiSource
from tests.integration.sources import real_day
from tests.integration.sources.feed_server import (
    EVENTS_PATH,
    ODDS_PATH,
    SCHEDULE_PATH,
    FeedServer,
    events_of,
)

QUOTA = {"x-requests-remaining": "19000", "x-requests-used": "1000", "x-requests-last": "3"}
DAY = "2024-07-13"


class Clock:
    """A clock the test moves; a retry's wait moves it too (and is recorded)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


class Day:
    """Cold processes on one database: every `process()` builds new clients and a new context."""

    def __init__(self, app: Any, db: Any, feed: FeedServer) -> None:
        self.app, self.db, self.feed = app, db, feed
        self.clock = Clock(datetime(2024, 7, 13, 16, 0, tzinfo=UTC))
        self.made: list[Any] = []

    def serve(self, odds: Any, schedule: dict[str, Any], *, odds_status: int = 200) -> None:
        if odds_status == 200:
            self.feed.serve_json(ODDS_PATH, odds, headers=QUOTA)
            self.feed.serve_json(EVENTS_PATH, events_of(odds), headers=QUOTA)
        else:
            body = {"message": "Usage quota has been reached"}
            self.feed.serve_json(ODDS_PATH, body, status=odds_status, headers={"Retry-After": "7"})
        self.feed.serve_json(SCHEDULE_PATH, schedule)

    def process(self) -> Any:
        """A freshly started process: new HTTP clients, new context, nothing in memory."""
        odds = OddsApiSource(
            "real-day-key-0123456789",
            base_url=self.feed.base_url,
            timeout=2.0,
            scores_days_from=None,
        )
        mlb = MlbStatsApiSource(base_url=self.feed.base_url, timeout=2.0)
        self.made += [odds, mlb]
        ctx = build_context(
            self.app.extensions["dugout.settings"],
            self.db.sessionmaker,
            clock=self.clock,
            sources=[odds, mlb],
            sleep=self.clock.sleep,
        )
        ctx.quota_plan = None  # polled every tick here; bench/quota.py and unit tests plan
        return ctx

    def run(self, pipeline: str, at: datetime) -> Any:
        self.clock.now = at
        return run_pipeline(self.process(), pipeline, "schedule", scheduled_for=at)

    def close(self) -> None:
        for source in self.made:
            source.close()


@pytest.fixture
def day(app, db, feed) -> Iterator[Day]:
    d = Day(app, db, feed)
    yield d
    d.close()


def _one(db: Any, model: Any, *where: Any) -> Any:
    with db.session() as s:
        row = s.scalars(select(model).where(*where)).one()
        s.expunge(row)
        return row


def _rec(db: Any, key: str) -> Recommendation:
    return _one(db, Recommendation, Recommendation.bet_key == key)


def _fair(sharp: tuple[int, int]) -> float:
    """pinnacle's devigged probability of the first side, computed here from its two prices."""
    return devig_multiplicative([american_to_decimal(p) for p in sharp])[0]


def test_a_real_day_end_to_end(day: Day, db: Any) -> None:
    # 16:00, a cold process: odds with a hostile 10 kB bookmaker key, the schedule with a TBD time
    day.serve(real_day.odds_1600(), real_day.schedule_before(final_game1=False))
    first = day.run("full", datetime(2024, 7, 13, 16, 0, tzinfo=UTC))
    assert first.status == "succeeded", first.summary

    bad = _one(db, QuarantinedRow, QuarantinedRow.field == "key")
    assert bad.source == "odds_api" and "10240 characters long" in bad.reason
    with db.session() as s:
        books = set(s.scalars(select(QuoteRow.book).where(QuoteRow.game_key == f"{DAY}-BOS@NYY")))
    assert books == {"pinnacle", "draftkings", "fanduel"}  # the rest of the batch is stored

    tbd = _one(db, Game, Game.game_key == f"{DAY}-LAA@ATH")
    assert tbd.commence_time == datetime(2024, 7, 14, 2, 7, tzinfo=UTC)  # not MLB's 07:33Z
    assert tbd.start_time_source == "odds" and tbd.mlb_game_pk == 746301
    over = _rec(db, f"{DAY}-BOS@NYY|totals|over|8.5")
    assert (over.book, over.price, over.strategies) == ("draftkings", 112, ["ev"])
    assert _rec(db, f"{DAY}-LAA@ATH|h2h|away|").price == 125  # the TBD game was analysed

    # 18:50, another cold process: every book at 9.0; the nightcap's event listed alone
    day.serve(real_day.odds_1850(), real_day.schedule_before(final_game1=True))
    result = day.run("collection", datetime(2024, 7, 13, 18, 50, tzinfo=UTC))
    assert result.status == "succeeded", result.summary
    link = _one(db, GameLink, GameLink.ref == real_day.EVENT_IDS["CWS@DET-2"])
    assert (link.game_key, link.confirmed) == (f"{DAY}-CWS@DET-2", True)
    with db.session() as s:
        assert s.scalar(select(QuoteRow.id).where(QuoteRow.game_key == f"{DAY}-CWS@DET")) is None

    # 23:30, after first pitch: The Odds API answers 429 with Retry-After 7 from now on
    day.serve(None, real_day.schedule_before(final_game1=True), odds_status=429)
    after = day.run("full", datetime(2024, 7, 13, 23, 30, tzinfo=UTC))
    assert after.status == "partial"
    assert "odds_api: SourceRateLimited" in (after.error or "")
    assert day.clock.waits == [7.0, 7.0]  # Retry-After honoured over 2 s and 4 s backoff
    assert after.summary["recommend"]["status"] == "skipped"  # nothing captured the close
    assert _rec(db, f"{DAY}-BOS@NYY|totals|over|8.5").clv_at is None

    # 03:30 next day: the grading job alone; MLB has the finals; the odds feed still refuses
    day.serve(None, real_day.schedule_after(), odds_status=429)
    graded = day.run("grading", datetime(2024, 7, 14, 3, 30, tzinfo=UTC))
    assert graded.status == "succeeded", graded.summary
    assert graded.summary["grade"]["in"] >= 5

    over = _rec(db, f"{DAY}-BOS@NYY|totals|over|8.5")
    assert over.status == "graded" and over.clv_at is not None
    assert (over.close_point, over.line_clv, over.clv, over.clv_basis) == (9.0, 0.5, None, "line")
    assert over.close_price == -105  # DraftKings' last quote on the market, at 9.0
    grade = _one(db, Grade, Grade.recommendation_id == over.id)
    assert (grade.result, grade.line_clv, grade.clv) == ("win", 0.5, None)  # 9 runs > 8.5

    athletics = _rec(db, f"{DAY}-LAA@ATH|h2h|away|")
    expected = american_to_decimal(125) * _fair((110, -125)) - 1.0  # close = its 16:00 quotes
    assert athletics.clv == pytest.approx(expected, abs=1e-9)
    assert athletics.clv_basis == "price"
    assert _one(db, Grade, Grade.recommendation_id == athletics.id).result == "win"

    # house rules: rain-shortened after six: moneyline has action, the total is void
    assert _one(db, Game, Game.game_key == f"{DAY}-SEA@HOU").innings == 6.0
    seattle_ml = _rec(db, f"{DAY}-SEA@HOU|h2h|away|")
    assert _one(db, Grade, Grade.recommendation_id == seattle_ml.id).result == "loss"
    seattle_total = _rec(db, f"{DAY}-SEA@HOU|totals|over|7.5")
    assert _one(db, Grade, Grade.recommendation_id == seattle_total.id).result == "void"
    # the postponed game voids; its makeup is another game with the same gamePk
    toronto = _rec(db, f"{DAY}-TOR@BAL|h2h|away|")
    assert _one(db, Grade, Grade.recommendation_id == toronto.id).result == "void"
    makeup = _one(db, Game, Game.game_key == "2024-07-14-TOR@BAL")
    assert makeup.mlb_game_pk == 746303 and makeup.status == "scheduled"
    assert _one(db, Game, Game.game_key == f"{DAY}-TOR@BAL").status == "postponed"

    # the makeup's odds event, first seen the next morning, links to the makeup, not the 13th
    day.serve(real_day.odds_makeup(), real_day.schedule_after())
    morning = day.run("collection", datetime(2024, 7, 14, 12, 0, tzinfo=UTC))
    assert morning.status == "succeeded", morning.summary
    link = _one(db, GameLink, GameLink.ref == real_day.EVENT_IDS["TOR@BAL-makeup"])
    assert link.game_key == "2024-07-14-TOR@BAL"

    with db.session() as s:
        statuses = [
            r.status for r in s.scalars(select(PipelineRun).order_by(PipelineRun.started_at))
        ]
    assert statuses == ["succeeded", "succeeded", "partial", "succeeded", "succeeded"]
