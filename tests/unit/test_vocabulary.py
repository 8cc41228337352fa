"""The vocabulary is the one definition the runner, models, CLI and metrics read."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.audit import OUTCOME_DENIED, OUTCOME_REFUSED
from app.cli import main
from app.models import ROLES
from app.observability.metrics import DugoutMetrics
from app.pipelines.runner import PIPELINE_NAMES, _stages
from app.vocabulary import (
    PIPELINE_STAGES,
    TICK_TRIGGERS,
    AuditOutcome,
    Pipeline,
    Role,
    Stage,
    Trigger,
)


def test_the_runner_runs_exactly_the_vocabulary_pipelines_and_stages() -> None:
    assert tuple(p.value for p in Pipeline) == PIPELINE_NAMES
    assert set(PIPELINE_STAGES) == set(Pipeline)
    stages = _stages()
    assert list(stages) == list(PIPELINE_NAMES)
    for pipeline, names in PIPELINE_STAGES.items():
        assert [name for name, _fn in stages[pipeline]] == [s.value for s in names]
    assert PIPELINE_STAGES[Pipeline.FULL] == tuple(Stage)  # a full run goes through every stage


def test_members_are_the_stored_strings() -> None:
    assert Trigger.DEPENDENCY == "dependency" and f"{Trigger.FALLBACK}" == "fallback"
    assert "api" not in {t.value for t in Trigger}  # nothing writes it
    assert set(TICK_TRIGGERS) <= set(Trigger) and Trigger.SCHEDULE in TICK_TRIGGERS
    assert tuple(Role) == ROLES and "operator" in ROLES
    assert (OUTCOME_REFUSED, OUTCOME_DENIED) == (AuditOutcome.REFUSED, AuditOutcome.DENIED)


def test_cli_run_offers_every_pipeline() -> None:
    choice = main.commands["run"].params[0].type  # type: ignore[attr-defined]
    assert list(choice.choices) == [p.value for p in Pipeline]


def test_metrics_start_with_every_pipeline_and_stage_at_zero() -> None:
    registry = CollectorRegistry()
    DugoutMetrics(registry)
    for p in Pipeline:
        assert registry.get_sample_value("dugout_pipeline_runs_in_progress", {"pipeline": p}) == 0
        assert registry.get_sample_value("dugout_pipeline_retries_total", {"pipeline": p}) == 0
    for s in Stage:
        count = "dugout_pipeline_stage_duration_seconds_count"
        assert registry.get_sample_value(count, {"stage": s}) == 0
