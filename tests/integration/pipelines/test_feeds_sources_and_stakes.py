"""Per-source breakers and alerts, one bet one stake, arbitrage as one position, the splits feed
and the idle-strategies fact: real database (both), real HTTP clients, an injected clock."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.models import Alert, Game, Grade, OpportunityRow, QuarantinedRow, Recommendation, SplitRow
from app.pipelines.build import build_context, provided_kinds
from app.pipelines.coverage import strategy_coverage
from app.pipelines.odds import american_to_decimal
from app.pipelines.runner import StageRunContext, run_pipeline
from app.pipelines.sources.mlb_statsapi import MlbStatsApiSource
from app.pipelines.sources.odds_api import OddsApiSource
from app.pipelines.sources.splits import SplitsFeedSource
from app.pipelines.stages.grade import grade_finished
from app.pipelines.stages.recommend import recommend
from scheduler.alerts import AlertBook
from scheduler.resilience import BreakerBook
from tests.integration.sources.feed_server import ODDS_PATH, FeedServer

T0 = datetime(2024, 7, 13, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now, self.waits = now, []

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


def test_one_failing_source_opens_its_own_breaker_and_alert(app, db, feed) -> None:
    clock = Clock(T0)
    breakers = BreakerBook(
        db.sessionmaker,
        threshold=2,
        cooldown_s=300,
        clock=clock,
        alerts=AlertBook(db.sessionmaker, clock),
    )
    odds = OddsApiSource("k-0123456789", base_url=feed.base_url, timeout=1.0, scores_days_from=None)
    mlb = MlbStatsApiSource(base_url=feed.base_url, timeout=1.0)
    ctx = build_context(
        app.extensions["dugout.settings"],
        db.sessionmaker,
        clock=clock,
        sources=[odds, mlb],
        breakers=breakers,
        sleep=clock.sleep,
    )
    ctx.quota_plan = None
    feed.serve_json(ODDS_PATH, {"message": "down"}, status=503)
    try:
        runs = []
        for _ in range(3):
            runs.append(run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now))
            clock.now += timedelta(minutes=1)
    finally:
        odds.close()
        mlb.close()

    assert [r.status for r in runs] == ["partial", "partial", "partial"]
    assert breakers.state("source:odds_api")[0] == "open"
    assert breakers.state("source:mlb_statsapi")[0] == "closed"  # the other source works on
    assert "circuit breaker opened" in runs[1].error
    assert "odds_api: CircuitOpen" in runs[2].error  # not called while open
    assert len(clock.waits) == 4  # two runs retried twice each; none while the breaker is open
    for wait, base in zip(clock.waits, (2.0, 4.0, 2.0, 4.0), strict=True):
        assert base * 0.9 <= wait <= base * 1.1  # exponential backoff with 10 % jitter
    with db.session() as s:
        alert = s.scalars(
            select(Alert).where(Alert.key == "scheduler:breaker:source:odds_api")
        ).one()
        assert alert.status == "firing"


def _opp(run_id, strategy: str, side: str, book: str, price: int, kelly: float, ev: float, at):
    return OpportunityRow(
        id=uuid.uuid4(),
        run_id=run_id,
        strategy=strategy,
        game_key="2024-07-13-BOS@NYY",
        market="h2h",
        side=side,
        book=book,
        price=price,
        point=None,
        fair_prob=0.5,
        ev=ev,
        kelly_fraction=kelly,
        data_available_at=at,
        detected_at=at,
        latency_ms=0.0,
        explanation="test",
        fingerprint=uuid.uuid4().hex,
    )


def _analysis_run_and_game(app, db) -> tuple[Any, uuid.UUID]:
    """A pipeline context without sources, an analysis run and the game its signals are on."""
    from app.models import PipelineRun

    ctx = build_context(app.extensions["dugout.settings"], db.sessionmaker, sources=[])
    run_id = uuid.uuid4()
    with db.sessionmaker.begin() as s:
        s.add(PipelineRun(id=run_id, pipeline="analysis", trigger="schedule", correlation_id="c"))
        s.add(
            Game(
                game_key="2024-07-13-BOS@NYY",
                home="NYY",
                away="BOS",
                commence_time=T0 + timedelta(hours=8),
                updated_at=T0,
            )
        )
    return ctx, run_id


def test_one_bet_one_stake_and_an_arbitrage_is_one_position(app, db) -> None:
    ctx, run_id = _analysis_run_and_game(app, db)
    with db.sessionmaker.begin() as s:
        for strategy in ("ev", "steam", "stale_line"):  # one stale price, three strategies
            s.add(_opp(run_id, strategy, "away", "fanduel", 150, 0.0151, 0.04, T0))
        at = T0 + timedelta(seconds=1)
        s.add(_opp(run_id, "arbitrage", "away", "draftkings", 130, 0.0, 0.056, at))
        s.add(_opp(run_id, "arbitrage", "home", "fanduel", -105, 0.0, 0.056, at))
    src = StageRunContext(ctx, run_id, T0 + timedelta(seconds=2), "recommendations")
    src.results["analyze"] = None  # type: ignore[assignment]
    outcome = recommend(src)

    assert outcome.detail["created"] == 2 and outcome.detail["arbitrage"] == 1
    with db.session() as s:
        single = s.scalars(select(Recommendation).where(Recommendation.kind == "single")).one()
        assert single.strategies == ["ev", "stale_line", "steam"]
        assert single.stake_units == pytest.approx(1.51)  # once, not 3 x 1.51
        arb = s.scalars(select(Recommendation).where(Recommendation.kind == "arbitrage")).one()
        legs = {leg.side: leg for leg in arb.legs}
        payout = {
            side: leg.stake_units * american_to_decimal(leg.price) for side, leg in legs.items()
        }
        assert arb.stake_units == 2.0 and sum(leg.stake_units for leg in arb.legs) == pytest.approx(
            2.0, abs=1e-3
        )
        assert payout["home"] == pytest.approx(payout["away"], abs=1e-3)
        game = s.scalars(select(Game)).one()
        game.status, game.home_score, game.away_score = "final", 3, 2
    with db.sessionmaker.begin() as s:
        counts = grade_finished(s, T0 + timedelta(days=1))
    with db.session() as s:
        grades = {g.strategy: g for g in s.scalars(select(Grade))}
    assert counts["win"] == 1 and counts["loss"] == 1  # the arb's winning leg pays; single loses
    arb_grade = grades["arbitrage"]
    assert arb_grade.profit_units == pytest.approx(payout["home"] - 2.0, abs=1e-3)
    assert arb_grade.profit_units > 0
    assert grades["ev"].strategies == ["ev", "stale_line", "steam"]


def test_the_splits_feed_json_and_csv_with_bad_rows_quarantined(app, db, tmp_path: Path) -> None:
    good = {
        "game_key": "2024-07-13-BOS@NYY",
        "market": "h2h",
        "side": "home",
        "tickets_pct": 72.0,
        "money_pct": 41.5,
        "tickets": 1830,
        "as_of": "2024-07-13T14:55:00Z",
    }
    bad = {**good, "side": "away", "tickets_pct": 140}
    path = tmp_path / "splits.json"
    path.write_text(json.dumps([good, bad]))
    csv_path = tmp_path / "splits.csv"
    csv_path.write_text(
        "home,away,commence_time,market,side,tickets_pct,money_pct,tickets,as_of\n"
        "New York Yankees,Boston Red Sox,2024-07-13T23:05:00Z,totals,over,65,30,900,2024-07-13T14:56:00Z\n"
        "New York Yankees,Boston Red Sox,2024-07-13T23:05:00Z,totals,sideways,65,30,,2024-07-13T14:56:00Z\n"
    )
    clock = Clock(T0)
    for feed in (SplitsFeedSource(str(path)), SplitsFeedSource(str(csv_path))):
        ctx = build_context(
            app.extensions["dugout.settings"], db.sessionmaker, clock=clock, sources=[feed]
        )
        result = run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
        assert result.status == "succeeded", result.summary
        clock.now += timedelta(minutes=1)
    with db.session() as s:
        splits = {(r.market, r.side): r for r in s.scalars(select(SplitRow))}
        reasons = {r.field: r.reason for r in s.scalars(select(QuarantinedRow))}
    assert splits[("h2h", "home")].money_pct == 41.5 and splits[("totals", "over")].tickets == 900
    assert set(splits) == {("h2h", "home"), ("totals", "over")}
    assert "outside 0..100" in reasons["tickets_pct"] and "does not belong" in reasons["side"]


def test_without_splits_rlm_and_sharp_action_are_idle_in_status(make_app) -> None:
    from rich.console import Console

    from app.cli_status import add_feed_facts, render_status
    from app.observability.status import build_status

    app = make_app(source="odds_api", odds_api_key="k-0123456789")
    settings = app.extensions["dugout.settings"]
    idle = {
        r.strategy: r.reason for r in strategy_coverage(provided_kinds(settings)) if not r.active
    }
    assert set(idle) == {"reverse_line_movement", "sharp_action"}
    assert "DUGOUT_SPLITS_SOURCE" in idle["sharp_action"]

    db = app.extensions["dugout.db"]
    report = build_status(db, T0)
    add_feed_facts(report, settings, db)
    body = report.as_dict()
    assert {s["strategy"] for s in body["strategies"] if not s["active"]} == set(idle)
    demo = make_app()
    assert all(
        r.active for r in strategy_coverage(provided_kinds(demo.extensions["dugout.settings"]))
    )
    console = Console(record=True, width=160)
    console.print(render_status(report))
    printed = console.export_text()
    assert "Idle strategies" in printed and "reverse_line_movement" in printed


def test_a_lone_arbitrage_leg_is_never_staked_as_an_arbitrage(app, db) -> None:
    """A re-detection stores only the leg whose price moved (the other leg's row exists, its
    fingerprint unique): that lone leg is not a position and gets no arbitrage stake, which
    would grade as a plain bet that can lose."""
    ctx, run_id = _analysis_run_and_game(app, db)
    with db.sessionmaker.begin() as s:
        at = T0 + timedelta(seconds=1)
        s.add(_opp(run_id, "arbitrage", "away", "draftkings", 135, 0.0, 0.06, at))
    src = StageRunContext(ctx, run_id, T0 + timedelta(seconds=2), "recommendations")
    src.results["analyze"] = None  # type: ignore[assignment]
    outcome = recommend(src)
    assert outcome.detail.get("arbitrage", 0) == 0
    with db.session() as s:
        assert (
            s.scalars(select(Recommendation).where(Recommendation.kind == "arbitrage")).all() == []
        )
