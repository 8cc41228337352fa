"""MetricsObserver on a fresh CollectorRegistry: samples move as run events arrive."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CollectorRegistry

from app.observability.metrics import DugoutMetrics
from app.observability.observer import AlertingObserver, MetricsObserver, reason_label
from app.observability.slo import SLOS
from app.pipelines.context import StageOutcome


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def observer(registry: CollectorRegistry) -> MetricsObserver:
    return MetricsObserver(DugoutMetrics(registry, [s.name for s in SLOS]), bankroll_units=100.0)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_a_run_moves_run_stage_and_slo_samples(observer, registry) -> None:
    run = uuid.uuid4()
    observer.run_started(run, "collection", "schedule")
    assert value(registry, "dugout_pipeline_runs_in_progress", pipeline="collection") == 1
    observer.source_collected(
        "demo", {"quotes": 10}, 12.0, 480, {"price 99 is inside (-100, +100)": 2}
    )
    observer.stage_finished(run, "collection", "collect", StageOutcome("succeeded", 10, 8), 0.2)
    observer.run_finished(run, "collection", "schedule", "succeeded", 0.25)

    assert (
        value(
            registry,
            "dugout_pipeline_runs_total",
            pipeline="collection",
            status="succeeded",
            trigger="schedule",
        )
        == 1
    )
    assert value(registry, "dugout_pipeline_runs_in_progress", pipeline="collection") == 0
    assert value(registry, "dugout_pipeline_run_duration_seconds_count", pipeline="collection") == 1
    assert (
        value(
            registry,
            "dugout_pipeline_run_duration_seconds_bucket",
            pipeline="collection",
            le="0.25",
        )
        == 1
    )
    assert (
        value(
            registry,
            "dugout_pipeline_stages_total",
            pipeline="collection",
            stage="collect",
            status="succeeded",
        )
        == 1
    )
    assert value(registry, "dugout_pipeline_stage_duration_seconds_sum", stage="collect") == 0.2
    assert (
        value(
            registry,
            "dugout_quarantined_rows_total",
            source="demo",
            reason="price {} is inside ({}, {})",
        )
        == 2
    )
    for slo in ("pipeline_latency", "pipeline_reliability", "data_freshness"):
        assert value(registry, "dugout_slo_events_total", slo=slo, outcome="good") == 1, slo
        assert value(registry, "dugout_slo_events_total", slo=slo, outcome="bad") == 0, slo


def test_failures_slow_runs_and_stale_data_count_as_bad(observer, registry) -> None:
    run = uuid.uuid4()
    observer.run_started(run, "full", "manual")
    observer.source_collected("demo", {}, 600.0, None, {})
    outcome = StageOutcome("failed", detail={"failed_sources": {"odds_api": "SourceTimeout: slow"}})
    observer.stage_finished(run, "full", "collect", outcome, 31.0)
    observer.run_finished(run, "full", "manual", "failed", 45.0)
    assert (
        value(registry, "dugout_source_errors_total", source="odds_api", error_type="SourceTimeout")
        == 1
    )
    for slo in ("pipeline_latency", "pipeline_reliability", "data_freshness"):
        assert value(registry, "dugout_slo_events_total", slo=slo, outcome="bad") == 1, slo


def test_a_tick_with_no_market_open_is_no_freshness_event(observer, registry) -> None:
    run = uuid.uuid4()
    observer.run_started(run, "collection", "schedule")
    closed = StageOutcome("succeeded", 0, 0, detail={"market_closed": True})
    observer.stage_finished(run, "collection", "collect", closed, 0.1)
    observer.run_finished(run, "collection", "schedule", "succeeded", 0.1)
    for outcome in ("good", "bad"):
        assert not value(registry, "dugout_slo_events_total", slo="data_freshness", outcome=outcome)
    assert (
        value(registry, "dugout_slo_events_total", slo="pipeline_reliability", outcome="good") == 1
    )

    empty = uuid.uuid4()  # nothing received while a game is due: a failing feed, counted bad
    observer.run_started(empty, "collection", "schedule")
    observer.stage_finished(empty, "collection", "collect", StageOutcome("succeeded", 0, 0), 0.1)
    observer.run_finished(empty, "collection", "schedule", "succeeded", 0.1)
    assert value(registry, "dugout_slo_events_total", slo="data_freshness", outcome="bad") == 1


def test_skipped_runs_do_not_count_against_reliability(observer, registry) -> None:
    run = uuid.uuid4()
    observer.run_started(run, "analysis", "schedule")
    observer.run_finished(run, "analysis", "schedule", "skipped", 0.01)
    assert (
        value(registry, "dugout_slo_events_total", slo="pipeline_reliability", outcome="good") == 0
    )
    assert (
        value(registry, "dugout_slo_events_total", slo="pipeline_reliability", outcome="bad") == 0
    )
    assert value(registry, "dugout_pipeline_run_duration_seconds_count", pipeline="analysis") == 0


def test_opportunities_feed_business_metrics(observer, registry) -> None:
    run = uuid.uuid4()
    observer.run_started(run, "analysis", "schedule")
    observer.opportunities_found(
        [
            {"strategy": "ev", "latency_ms": 1500.0, "ev": 0.05, "kelly_fraction": 0.02},
            {"strategy": "ev", "latency_ms": 90_000.0, "ev": 0.10, "kelly_fraction": 0.01},
            {"strategy": "steam", "latency_ms": 200.0, "ev": 0.02, "kelly_fraction": 0.01},
        ]
    )
    observer.stage_finished(run, "analysis", "analyze", StageOutcome("succeeded", 5, 3), 0.1)
    assert value(registry, "dugout_opportunities_detected_total", strategy="ev") == 2
    assert (
        value(
            registry, "dugout_opportunity_detection_latency_seconds_bucket", strategy="ev", le="2.5"
        )
        == 1
    )
    assert value(registry, "dugout_value_identified_units_total", strategy="ev") == pytest.approx(
        0.05 * 0.02 * 100 + 0.10 * 0.01 * 100
    )
    assert (
        value(registry, "dugout_slo_events_total", slo="opportunity_detection", outcome="good") == 2
    )
    assert (
        value(registry, "dugout_slo_events_total", slo="opportunity_detection", outcome="bad") == 1
    )


def test_reason_labels_drop_values_and_stay_bounded(registry) -> None:
    assert reason_label("price 'abc' is not a number") == "price {} is not a number"
    assert reason_label("total 31.5 is outside 0..30 runs") == "total {} is outside {}..{} runs"
    observer = MetricsObserver(DugoutMetrics(registry))
    for i in range(250):
        observer.source_collected(
            "demo", {}, None, None, {"odd " + "".join(chr(97 + int(d)) for d in str(i)): 1}
        )
    families = {
        s.labels["reason"]
        for f in registry.collect()
        for s in f.samples
        if s.name == "dugout_quarantined_rows_total"
    }
    assert len(families) <= 201 and "other" in families


def test_alerting_observer_evaluates_at_most_once_per_interval() -> None:
    from datetime import UTC, datetime, timedelta

    now = [datetime(2026, 7, 4, 12, tzinfo=UTC)]
    calls: list[datetime] = []
    alerting = AlertingObserver(calls.append, clock=lambda: now[0], interval_s=60)
    for seconds in (0, 10, 59, 60, 61, 130):
        now[0] = datetime(2026, 7, 4, 12, tzinfo=UTC) + timedelta(seconds=seconds)
        alerting.run_finished(uuid.uuid4(), "collection", "schedule", "succeeded", 0.1)
    assert [c.second + 60 * c.minute for c in calls] == [0, 60, 130]


def test_run_opened_gives_dispatch_lag_and_retries_without_a_database(observer, registry) -> None:
    from datetime import UTC, datetime, timedelta

    tick = datetime(2026, 7, 4, 17, tzinfo=UTC)
    run = uuid.uuid4()  # the observer has no session factory: nothing may be read back
    observer.run_started(run, "collection", "schedule")
    observer.run_opened(run, "collection", "schedule", tick, tick + timedelta(seconds=1.5))
    observer.run_finished(run, "collection", "schedule", "succeeded", 0.2)
    retry = uuid.uuid4()
    observer.run_started(retry, "collection", "retry")
    observer.run_opened(retry, "collection", "retry", tick.replace(tzinfo=None), tick)
    observer.run_finished(retry, "collection", "retry", "succeeded", 0.2)
    observer.run_started(uuid.uuid4(), "collection", "manual")
    observer.run_opened(uuid.uuid4(), "collection", "manual", None, tick)

    lag = "dugout_scheduler_dispatch_lag_seconds"
    assert value(registry, f"{lag}_count", pipeline="collection") == 2
    assert value(registry, f"{lag}_sum", pipeline="collection") == 1.5
    assert value(registry, f"{lag}_bucket", pipeline="collection", le="1.0") == 1
    assert value(registry, "dugout_pipeline_retries_total", pipeline="collection") == 1
