"""Real demo pipeline runs through the app's observers: metric samples move with the ledger,
spans and log lines carry the run's correlation id."""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import OpportunityRow, PipelineRun, QuarantinedRow
from app.observability.logging import configure_logging
from app.pipelines.context import PipelineContext
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.strategies import build_strategies
from tests.integration.observability.conftest import sample


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def demo() -> DemoSource:
    return DemoSource(seed=7, day=datetime(2026, 7, 4).date())


@pytest.fixture
def clock(demo: DemoSource) -> Clock:
    first_pitch = min(
        g.commence_time for g in demo.fetch(datetime(2026, 7, 5, 12, tzinfo=UTC)).games
    )
    return Clock(first_pitch - timedelta(hours=2))


@pytest.fixture
def ctx(app, db, demo, clock) -> PipelineContext:
    """A pipeline context with the app's observers (as services.pipeline_context builds it)."""
    return PipelineContext(
        sessions=db.sessionmaker,
        clock=clock,
        sources=[demo],
        strategies=build_strategies(),
        observers=app.extensions["dugout.observers"],
    )


def _count(db, *what):
    with db.session() as s:
        return s.scalar(select(*what)) or 0


def test_samples_move_as_runs_happen(app, db, ctx, clock) -> None:
    assert (
        sample(
            app,
            "dugout_pipeline_runs_total",
            pipeline="full",
            status="succeeded",
            trigger="schedule",
        )
        == 0
    )
    statuses = []
    for _ in range(15):
        statuses.append(run_pipeline(ctx, "full", "schedule", scheduled_for=clock.now).status)
        clock.now += timedelta(minutes=1)
    runs = sum(
        sample(app, "dugout_pipeline_runs_total", pipeline="full", status=s, trigger="schedule")
        for s in set(statuses)
    )
    assert runs == 15
    assert sample(app, "dugout_pipeline_runs_in_progress", pipeline="full") == 0
    assert sample(app, "dugout_pipeline_run_duration_seconds_count", pipeline="full") == 15
    assert sample(app, "dugout_pipeline_stage_duration_seconds_count", stage="collect") == 15
    assert sample(app, "dugout_scheduler_dispatch_lag_seconds_count", pipeline="full") == 15
    # the same numbers as the ledger the runs wrote
    opps = _count(db, func.count(OpportunityRow.id))
    assert opps > 0
    with db.session() as session:
        by_strategy = dict(
            session.execute(
                select(OpportunityRow.strategy, func.count()).group_by(OpportunityRow.strategy)
            ).all()
        )
    for strategy, n in by_strategy.items():
        assert sample(app, "dugout_opportunities_detected_total", strategy=strategy) == n
        assert (
            sample(app, "dugout_opportunity_detection_latency_seconds_count", strategy=strategy)
            == n
        )
    assert (
        sum(
            sample(app, "dugout_slo_events_total", slo="opportunity_detection", outcome=o)
            for o in ("good", "bad")
        )
        == opps
    )
    quarantined = _count(db, func.count(QuarantinedRow.id))
    app.extensions["dugout.observability"].ledger.clock = clock  # the SLO windows end now
    text = app.test_client().get("/metrics").get_data(as_text=True)
    metric_q = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("dugout_quarantined_rows_total{")
    )
    assert metric_q == quarantined
    for slo in ("pipeline_latency", "pipeline_reliability", "data_freshness"):
        assert (
            sum(sample(app, "dugout_slo_events_total", slo=slo, outcome=o) for o in ("good", "bad"))
            == 15
        ), slo
    assert sample(app, "dugout_slo_events_total", slo="pipeline_latency", outcome="good") == 15
    # gauges read from the ledger at scrape time
    assert 'dugout_source_freshness_seconds{source="demo"}' in text
    good = statuses.count("succeeded") / len(statuses)
    assert sample(app, "dugout_slo_sli", slo="pipeline_reliability") == pytest.approx(good)


def test_spans_and_log_lines_carry_the_correlation_id(app, db, ctx, clock, spans) -> None:
    stream = io.StringIO()
    configure_logging("INFO", True, stream=stream)
    spans.clear()
    try:
        result = run_pipeline(ctx, "full", "manual", actor="otto", correlation_id="cid-run-42")
    finally:
        configure_logging("WARNING", True, stream=sys.stdout)
        logging.getLogger().setLevel(logging.WARNING)
    finished = spans.get_finished_spans()
    root = next(s for s in finished if s.name == "pipeline full")
    stages = [s for s in finished if s.name.startswith("stage ")]
    assert {s.name for s in stages} == {
        "stage collect",
        "stage analyze",
        "stage recommend",
        "stage grade",
    }
    for span in [root, *stages]:
        assert span.attributes["dugout.correlation_id"] == "cid-run-42", span.name
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in stages)
    trace_id = f"{root.context.trace_id:032x}"
    with db.session() as s:
        run = s.get(PipelineRun, result.run_id)
        assert run.correlation_id == "cid-run-42" and run.trace_id == trace_id

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    pipeline_lines = [line for line in lines if line["logger"].startswith("dugout.pipelines")]
    assert pipeline_lines, lines
    for line in pipeline_lines:
        assert line["correlation_id"] == "cid-run-42"
        assert line["run_id"] == str(result.run_id) and line["pipeline"] == "full"
        assert line["user"] == "otto"  # who ran it by hand
        assert line["trace_id"] == trace_id and len(line["span_id"]) == 16
    stage_lines = [line for line in pipeline_lines if line["message"] == "stage finished"]
    assert {line["stage"] for line in stage_lines} >= {"collect", "analyze"}
    assert all("duration_ms" in line for line in stage_lines)
