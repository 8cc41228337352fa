"""Status widgets on crafted data: SLO colours and words, alerts, the banner, the job table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from plotly.utils import PlotlyJSONEncoder

from components.controls import confirm_text
from components.status import (
    alerts_list,
    jobs_table,
    kill_switch_banner,
    scheduler_summary,
    slo_cards,
    slo_colour,
    slo_level,
    slo_status_word,
)

NOW = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)


def _text(component) -> str:
    return json.dumps(component, cls=PlotlyJSONEncoder) if component else ""


def _slo(**overrides):
    base = {
        "name": "pipeline_reliability",
        "title": "Pipeline reliability",
        "objective": "99.5% of runs succeed",
        "target": 0.995,
        "window_days": 30,
        "events": 1000,
        "sli": 0.999,
        "error_budget_remaining": 0.8,
        "burn_rates": {"1h": 0.2},
        "firing": {"page": False, "ticket": False, "budget_exhausted": False},
    }
    return base | overrides


@pytest.mark.parametrize(
    ("overrides", "colour"),
    [
        ({}, "success"),
        ({"error_budget_remaining": 0.1}, "warning"),
        ({"shown_level": "ticket"}, "warning"),
        ({"shown_level": "page"}, "danger"),
        ({"shown_level": "budget_exhausted", "error_budget_remaining": -0.5}, "danger"),
        ({"sli": None, "error_budget_remaining": None, "events": 0}, "secondary"),
    ],
)
def test_slo_colour_follows_the_shown_level(overrides, colour) -> None:
    assert slo_colour(_slo(**overrides)) == colour


def test_a_spent_budget_without_its_alert_never_says_an_alert_word() -> None:
    """The old card said "Burning: page" for a spent budget while no page rule fired."""
    slo = _slo(error_budget_remaining=-0.5, firing={"page": False, "ticket": True})
    assert slo_level(slo) == "at_risk"
    text = _text(slo_cards([slo]))
    assert "page" not in text.lower().replace("pipeline", "")


def test_slo_card_says_sli_target_budget_and_status_in_words() -> None:
    text = _text(slo_cards([_slo(shown_level="page", sli=0.9)]))
    assert "90.00%" in text and "target 99.5%" in text and "Error budget left: 80%" in text
    assert slo_status_word("page") == "Alert: page" and "Alert: page" in text
    assert slo_status_word("budget_exhausted") == "Alert: budget exhausted"
    assert slo_status_word("healthy") == "Healthy"
    assert "No SLOs" in _text(slo_cards([]))


def test_alerts_list_and_empty_state() -> None:
    assert "No alerts firing" in _text(alerts_list([]))
    text = _text(
        alerts_list(
            [
                {
                    "severity": "page",
                    "title": "Fast burn",
                    "message": "14x",
                    "fired_at": "2026-07-04T17:00",
                }
            ]
        )
    )
    assert "Fast burn" in text and '"danger"' in text and "since 2026-07-04T17:00" in text


def test_banner_only_while_engaged() -> None:
    assert kill_switch_banner({"engaged": False}) is None
    assert kill_switch_banner(None) is None
    text = _text(
        kill_switch_banner(
            {"engaged": True, "since": "2026-07-04T17:00", "by": "ana", "reason": "bad feed"}
        )
    )
    assert "Kill switch engaged" in text and "ana" in text and "bad feed" in text


def test_scheduler_summary_leader_and_missing_leader() -> None:
    status = {
        "leader": {
            "holder": "web-1:42",
            "epoch": 3,
            "alive": True,
            "heartbeat_at": (NOW - timedelta(seconds=4)).isoformat(),
        },
        "queue_depth": 2,
        "pending_commands": 1,
    }
    text = _text(scheduler_summary(status, NOW))
    assert "web-1:42 (epoch 3), heartbeat 4 s ago" in text and "queue 2" in text
    status["leader"] |= {"alive": False, "heartbeat_at": (NOW - timedelta(minutes=5)).isoformat()}
    text = _text(scheduler_summary(status, NOW))
    assert "no leader" in text and "5 min ago" in text


def test_jobs_table_rows_and_empty_state() -> None:
    assert "No jobs are scheduled" in _text(jobs_table([]))
    table = jobs_table(
        [
            {
                "job_id": "collection",
                "pipeline": "collection",
                "interval_s": 60,
                "enabled": True,
                "next_run_at": "2026-07-04T18:01:00+00:00",
                "last_status": "failed",
                "breaker": "open",
            },
            {"job_id": "grading", "pipeline": "grading", "interval_s": 900, "enabled": False},
            {"job_id": "analysis", "pipeline": "analysis", "interval_s": 0, "enabled": True},
        ]
    )
    rows = table.rowData
    assert rows[0]["next_run_at"] == "2026-07-04 18:01 UTC" and rows[0]["breaker"] == "open"
    assert rows[1]["enabled"] == "paused" and rows[1]["last_status"] == "—"
    assert rows[2]["interval"] == rows[2]["next_run_at"] == "after upstream"


def test_confirmation_asks_the_question_with_the_reason() -> None:
    text = confirm_text("Pause grading?", "games delayed")  # the question comes in whole now
    assert text.startswith("Pause grading?") and "Reason: games delayed" in text
    assert "audit log" in text


def test_heartbeat_age_from_a_clock_a_little_ahead_reads_0_s() -> None:
    status = {
        "leader": {
            "holder": "web-2:7",
            "epoch": 4,
            "alive": True,
            "heartbeat_at": (NOW + timedelta(seconds=1.4)).isoformat(),
        },
        "queue_depth": 0,
        "pending_commands": 0,
    }
    text = _text(scheduler_summary(status, NOW))
    assert "heartbeat 0 s ago" in text and "-1 s" not in text
