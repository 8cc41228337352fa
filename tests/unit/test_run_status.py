"""How stage outcomes roll up into a run status."""

from __future__ import annotations

import pytest

from app.pipelines.context import StageOutcome
from app.pipelines.runner import _run_status


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        (["succeeded", "succeeded"], "succeeded"),
        (
            ["succeeded", "skipped", "skipped"],
            "succeeded",
        ),  # nothing fresh to analyse: not a failure
        (["partial", "succeeded"], "partial"),  # a source failed, the rest worked
        (["failed", "skipped", "skipped"], "failed"),  # upstream failed, downstream skipped
        (["succeeded", "failed"], "partial"),
        (["skipped"], "skipped"),
    ],
)
def test_run_status(stages, expected) -> None:
    outcomes = {f"s{i}": StageOutcome(status=s) for i, s in enumerate(stages)}
    assert _run_status(outcomes) == expected


def test_run_error_names_failed_then_partial_stages() -> None:
    from app.pipelines.runner import _run_error

    outcomes = {
        "collect": StageOutcome(
            "partial", error_type="SourceError", error_message="odds_api: SourceTimeout: slow"
        ),
        "analyze": StageOutcome("succeeded"),
        "recommend": StageOutcome("failed", error_type="KeyError", error_message="'x'"),
    }
    assert _run_error(outcomes) == (
        "KeyError",
        "recommend: 'x'; collect: odds_api: SourceTimeout: slow",
    )
    assert _run_error({"collect": StageOutcome("succeeded")}) == (None, None)
    assert _run_error({"collect": StageOutcome("partial", error_message="demo: late")}) == (
        None,
        "collect: demo: late",
    )
