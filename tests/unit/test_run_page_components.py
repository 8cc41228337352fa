"""The run page's pieces on crafted data: trace link, stage detail in words, family, logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from plotly.utils import PlotlyJSONEncoder

from components.run_page import family, log_table, stage_details, trace_link, written

T0 = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)


def _text(component) -> str:
    return json.dumps(component, cls=PlotlyJSONEncoder)


def test_trace_id_links_through_the_template_only_when_set() -> None:
    link = trace_link("ab" * 16, "https://tempo.example/explore?trace={trace_id}")
    assert link.href == "https://tempo.example/explore?trace=" + "ab" * 16
    assert link.rel == "noopener noreferrer"
    assert trace_link("ab" * 16, "") == "ab" * 16 and trace_link(None, "x") is None


def test_stage_detail_reads_as_words_and_tables() -> None:
    stage = {
        "stage": "collect",
        "status": "succeeded",
        "records_in": 120,
        "records_out": 118,
        "duration_ms": 21.0,
        "reason": "market closed",
        "detail": {
            "sources": {"demo": {"quotes": 120, "stored_quotes": 118, "freshness_s": 3.5}},
            "market_closed": True,
        },
    }
    text = _text(stage_details([stage]))
    assert "stored quotes" in text and "118" in text and "market closed" in text
    assert "{'" not in text and "No stages recorded" in _text(stage_details([]))


def test_family_links_parent_retries_and_the_runs_of_the_tick() -> None:
    brief = {"status": "skipped", "trigger": "dependency", "attempt": 1, "reason": "why not"}
    run = {
        "id": "r2",
        "pipeline": "collection",
        "attempts": [{"id": "r1", "attempt": 1, "status": "failed"}, {"id": "r2", "attempt": 2}],
        "parent": {"id": "r1", "pipeline": "collection", **brief},
        "retried_by": [],
        "tick_runs": [{"id": "a1", "pipeline": "analysis", "after": True, **brief}],
    }
    text = _text(family(run))
    assert "/pipelines/r1" in text and "parent: collection" in text
    assert "/pipelines/a1" in text and "downstream analysis (dependency)" in text
    assert "why not" in text


def test_written_counts_link_to_their_pages_and_logs_show_fields() -> None:
    text = _text(written({"snapshots": 1, "opportunities": 3, "recommendations": 0}))
    assert "/opportunities" in text and "/bets" not in text  # nothing written: no link
    table = log_table(
        [
            {
                "at": T0,
                "level": "INFO",
                "logger": "dugout.pipelines",
                "message": "run started",
                "fields": {"trigger": "schedule", "stage": "collect"},
            }
        ],
        "INFO",
    )
    assert table.rowData[0]["fields"] == "trigger=schedule stage=collect"
    assert "run-logs-empty" in _text(log_table([], "ERROR"))
