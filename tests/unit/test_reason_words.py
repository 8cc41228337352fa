"""Reasons in words: a skipped row's stored reason, skipped stages and their cause, partial
and failed runs, and nothing that reads like a Python dict."""

from __future__ import annotations

import pytest

from app.pipelines.reasons import plain, run_reason, stage_reason, status_with_reason

MARKET_CLOSED = {
    "collect": {"status": "succeeded", "in": 0, "out": 0, "market_closed": True},
    "analyze": {
        "status": "skipped",
        "in": 0,
        "out": 0,
        "stale_sources": {"demo": "no data collected yet"},
        "reason": "no fresh source: demo: no data collected yet",
    },
    "recommend": {
        "status": "skipped",
        "in": 0,
        "out": 0,
        "reason": "upstream stage analyze skipped",
    },
    "grade": {"status": "succeeded", "in": 0, "out": 0},
}


def test_a_closed_market_is_the_reason_for_the_skipped_stages() -> None:
    why = run_reason("succeeded", MARKET_CLOSED)
    assert why == "2 stages skipped: market closed"
    assert status_with_reason("succeeded", why) == "SUCCEEDED (2 stages skipped: market closed)"
    assert stage_reason(MARKET_CLOSED["collect"]) == "market closed"


def test_the_first_own_skip_reason_names_the_cause() -> None:
    summary = {k: v for k, v in MARKET_CLOSED.items() if k != "collect"}
    why = run_reason("succeeded", summary)
    assert why == "2 stages skipped: no fresh source: demo: no data collected yet"


@pytest.mark.parametrize(
    ("status", "summary", "error", "expected"),
    [
        ("skipped", {"reason": "kill switch engaged"}, None, "kill switch engaged"),
        ("skipped", {"reason": "throttled: 4 runs in flight"}, None, "throttled: 4 runs in flight"),
        ("failed", {"reason": "executor lost"}, "executor lost", "executor lost"),
        ("succeeded", {"collect": {"status": "succeeded"}}, None, ""),
        (
            "partial",
            {"collect": {"status": "partial"}},
            "collect: odds_api: HTTP 500",
            "collect: odds_api: HTTP 500",
        ),
        (
            "partial",
            {"collect": {"status": "partial", "failed_sources": {"odds_api": "HTTP 500"}}},
            None,
            "sources failed: odds_api: HTTP 500",
        ),
        ("succeeded", {}, None, ""),
        ("succeeded", None, None, ""),
    ],
)
def test_run_reason(status, summary, error, expected) -> None:
    assert run_reason(status, summary, error) == expected


def test_stored_mappings_read_as_text() -> None:
    assert plain({"demo": "stale", "odds_api": {"after": 30}}) == "demo: stale; odds_api: after: 30"
    assert plain(["a", "b"]) == "a, b" and plain(None) == ""
    why = stage_reason({"deferred_sources": {"odds_api": "quota plan: held until 18:00"}})
    assert why == "sources deferred: odds_api: quota plan: held until 18:00"
    assert "{" not in why and "'" not in why
