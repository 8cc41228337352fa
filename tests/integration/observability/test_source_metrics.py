"""Data and business metrics from real runs of the demo source and the real Odds API client
(on the local feed server), through the app's observers, on a fresh registry per test."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.models import OpportunityRow, QuarantinedRow
from app.observability.observer import reason_label
from app.pipelines.build import build_context
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.sources.odds_api import OddsApiSource
from tests.integration.observability.conftest import sample
from tests.integration.sources.feed_server import ODDS_PATH, FeedServer

T0 = datetime(2024, 7, 13, 15, 0, tzinfo=UTC)
ODDS_NEWEST = datetime(2024, 7, 13, 14, 59, 3, tzinfo=UTC)
QUOTA = {"x-requests-remaining": "4985", "x-requests-used": "15", "x-requests-last": "3"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def odds_with_bad_rows(feed: FeedServer) -> list[dict[str, Any]]:
    """The recorded odds plus one event with an unknown team and one with a zero price."""
    events = feed.payload("odds_mlb.json")
    unknown = copy.deepcopy(events[2])
    unknown["id"], unknown["home_team"] = "bad-team", "Springfield Isotopes"
    zero = copy.deepcopy(events[2])
    zero["id"] = "bad-price"
    zero["bookmakers"][0]["markets"][0]["outcomes"][0]["price"] = 0
    return [*events, unknown, zero]


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    server.serve_json(ODDS_PATH, odds_with_bad_rows(server), headers=QUOTA)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def ctx(app, db, feed, clock):
    """The app's observers on a context with the demo and the real Odds API client."""
    odds = OddsApiSource("k-0123456789", base_url=feed.base_url, timeout=1.0, scores_days_from=None)
    app.extensions["dugout.observability"].ledger.clock = clock
    context = build_context(
        app.extensions["dugout.settings"],
        db.sessionmaker,
        clock=clock,
        sources=[DemoSource(seed=7, day=date(2024, 7, 13)), odds],
        observers=app.extensions["dugout.observers"],
    )
    context.quota_plan = None  # every tick polls The Odds API here (the plan has its own tests)
    yield context
    odds.close()


def _ledger(db, *columns, where=()):
    with db.session() as s:
        return s.execute(select(*columns).where(*where).group_by(*columns[:-1])).all()


def test_source_and_business_metrics_follow_the_ledger(app, db, ctx, clock, feed) -> None:
    # five minutes of one-minute ticks; the Odds API answers the same payload every time
    for _ in range(5):
        result = run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now)
        assert result.status == "succeeded", result.summary
        clock.now += timedelta(minutes=1)

    # quota and freshness per source, read from source_states at scrape time
    assert sample(app, "dugout_source_quota_remaining", source="odds_api") == 4985
    assert sample(app, "dugout_source_freshness_seconds", source="odds_api") == pytest.approx(
        (clock.now - ODDS_NEWEST).total_seconds()
    )
    assert 0 < sample(app, "dugout_source_freshness_seconds", source="demo") < 120
    assert sample(app, "dugout_source_up", source="odds_api") == 1

    # quarantined rows by reason: once per snapshot, though the same payload came five times
    rows = _ledger(db, QuarantinedRow.source, QuarantinedRow.reason, func.count())
    assert {(s, r) for s, r, _ in rows} >= {
        ("odds_api", "'Springfield Isotopes' is not a known MLB team"),
        ("odds_api", "price is zero"),
    }
    for source, reason, n in rows:
        label = reason_label(reason)
        assert sample(app, "dugout_quarantined_rows_total", source=source, reason=label) == n

    # opportunities, detection latency and value identified per strategy
    opps = _ledger(
        db,
        OpportunityRow.strategy,
        func.count(),
    )
    assert opps, "the demo market yields opportunities"
    bankroll = app.extensions["dugout.settings"].bankroll_units
    for strategy, n in opps:
        assert sample(app, "dugout_opportunities_detected_total", strategy=strategy) == n
        assert (
            sample(app, "dugout_opportunity_detection_latency_seconds_count", strategy=strategy)
            == n
        )
        with db.session() as s:
            found = s.execute(
                select(
                    OpportunityRow.latency_ms, OpportunityRow.ev, OpportunityRow.kelly_fraction
                ).where(OpportunityRow.strategy == strategy)
            ).all()
        assert sample(
            app, "dugout_opportunity_detection_latency_seconds_sum", strategy=strategy
        ) == pytest.approx(sum(lat for lat, _, _ in found) / 1000)
        value = sum(ev * k * bankroll for _, ev, k in found if ev * k > 0)
        assert sample(
            app, "dugout_value_identified_units_total", strategy=strategy
        ) == pytest.approx(value)

    # a failing source: its error is counted, it is down, and its age keeps growing
    feed.serve_json(ODDS_PATH, {"message": "slow down"}, status=429, headers={"Retry-After": "9"})
    clock.now = T0 + timedelta(minutes=10)
    assert run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now).status == "partial"
    assert (
        sample(app, "dugout_source_errors_total", source="odds_api", error_type="SourceRateLimited")
        == 1
    )
    assert sample(app, "dugout_source_up", source="odds_api") == 0
    assert sample(app, "dugout_source_up", source="demo") == 1
    assert sample(app, "dugout_source_freshness_seconds", source="odds_api") == 657
    assert sample(app, "dugout_source_quota_remaining", source="odds_api") == 4985
    # the freshness SLO judges the tick by its freshest source: demo, collected just now
    assert sample(app, "dugout_slo_events_total", slo="data_freshness", outcome="good") == 6


def test_hooks_are_used_and_the_ledger_fallback_is_not(app, db, ctx, clock, monkeypatch) -> None:
    """collect and analyze notify the observer, so it never re-reads what it was told."""
    from app.observability.observer import MetricsObserver

    calls: list[str] = []
    monkeypatch.setattr(MetricsObserver, "_collect_from_ledger", lambda *a: calls.append("collect"))
    monkeypatch.setattr(
        MetricsObserver, "_opportunities_from_ledger", lambda *a: calls.append("analyze")
    )
    for _ in range(3):
        run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now)
        clock.now += timedelta(minutes=1)
    assert calls == []
    with db.session() as s:
        n = s.scalar(select(func.count(OpportunityRow.id)))
    total = sum(
        sample(app, "dugout_opportunities_detected_total", strategy=strategy)
        for strategy in (
            "ev",
            "arbitrage",
            "steam",
            "stale_line",
            "reverse_line_movement",
            "sharp_action",
        )
    )
    assert n and total == n


def test_api_health_shows_sources_with_freshness_quota_and_breaker(
    app, db, ctx, clock, feed, login_as
) -> None:
    from app.models import CircuitBreaker

    app.extensions["dugout.clock"] = clock
    run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
    feed.serve_json(ODDS_PATH, {"message": "down"}, status=502)
    clock.now = T0 + timedelta(minutes=10)
    run_pipeline(ctx, "collection", "schedule", scheduled_for=clock.now)
    with db.session() as s:
        s.add(CircuitBreaker(name="collection", state="open", consecutive_failures=5))
        s.commit()

    body = login_as("viewer").http.get("/api/health").get_json()

    sources = {row["source"]: row for row in body["sources"]}
    odds = sources["odds_api"]
    assert odds["freshness_s"] == 657.0 and odds["quota_remaining"] == 4985
    assert odds["last_error_type"] == "SourceUnavailable" and "HTTP 502" in odds["last_error"]
    assert odds["last_success_at"] == T0.isoformat(timespec="seconds")
    assert odds["breaker"] == "open"
    assert sources["demo"]["last_error_type"] is None and sources["demo"]["freshness_s"] < 60
    assert {"name": "collection", "state": "open"}.items() <= body["breakers"][0].items()
    assert {c["name"] for c in body["checks"]} >= {"database", "migrations"}
    assert login_as("viewer").http.get("/api/health").status_code == 200
    assert app.test_client().get("/api/health").status_code in (302, 401)  # login required


def test_each_source_request_is_a_child_span_of_collect(app, ctx, clock, feed, spans) -> None:
    feed.serve_body(ODDS_PATH, b"not json", status=200)
    spans.clear()

    result = run_pipeline(ctx, "collection", "manual", correlation_id="cid-src-1")

    assert result.status == "partial"
    finished = {s.name: s for s in spans.get_finished_spans()}
    stage = finished["stage collect"]
    demo, odds = finished["source demo"], finished["source odds_api"]
    for span in (demo, odds):
        assert span.parent is not None and span.parent.span_id == stage.context.span_id
        assert span.attributes["dugout.correlation_id"] == "cid-src-1"
    assert demo.status.is_ok and demo.attributes["dugout.quotes"] > 0
    assert not odds.status.is_ok
    assert odds.attributes["dugout.error_type"] == "SourcePayloadError"
