"""`dugout live` on a small terminal: at 80 columns every line fits, the figures an on-call
engineer reads are there, the runs shown fit in 24 lines, and a footer says how to leave."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from app.cli_live import render_live
from app.health import CheckResult
from app.observability.status import StatusReport

NOW = datetime(2026, 12, 1, 15, 4, 5, tzinfo=UTC)
LONG = "upstream collection skipped: market closed until the first pitch at 18:05 ET " * 2


def _report() -> StatusReport:
    slo = {
        "name": "run_success",
        "title": "Pipeline run success rate over thirty days",
        "target": 0.99,
        "sli": 0.9712,
        "error_budget_remaining": -1.88,
        "burn_rates": {"5m": 14.4, "1h": 14.41, "6h": 6.02, "3d": 2.9},
        "level": "page",
        "shown_level": "page",
        "events": 400,
    }
    alerts = [
        {
            "severity": "page",
            "title": "Pipeline run success rate burning fast: 14.4x over 1h and 5m",
            "fired_at": "2026-12-01T14:59:00+00:00",
        }
    ]
    runs = [
        {
            "started_at": f"2026-12-01T15:0{i % 10}:00+00:00",
            "pipeline": "recommendations",
            "status": "skipped" if i % 2 else "failed",
            "trigger": "dependency",
            "duration_ms": 1234.5 + i,
            "error": "SourceRateLimited: retry after 30 s" if not i % 2 else "",
            "reason": LONG if i % 2 else None,
        }
        for i in range(40)
    ]
    checks = [
        CheckResult("database", True, 1.2),
        CheckResult("redis", False, 3.0, "connection refused at redis://127.0.0.1:6379/0 " * 3),
        CheckResult("scheduler", True, 0.4),
    ]
    sources = [{"source": "odds_api", "freshness_s": 42, "last_error": "429", "quota_remaining": 3}]
    return StatusReport(NOW, checks, [slo], alerts, sources, runs)


def _screen(width: int, height: int = 24) -> list[str]:
    console = Console(file=io.StringIO(), width=width, height=height, record=True)
    console.print(render_live(_report(), width, height, 5.0))
    return console.export_text().rstrip("\n").split("\n")


@pytest.mark.parametrize("width", [80, 120])
def test_every_line_fits_and_the_footer_is_last(width: int) -> None:
    lines = _screen(width)
    assert max(len(line) for line in lines) <= width
    assert lines[-1].startswith("refresh 5s") and "Ctrl-C to quit" in lines[-1]
    assert "2026-12-01 15:04:05 UTC" in lines[-1]
    text = "\n".join(lines)
    for figure in ("DEGRADED", "97.12%", "-188.0%", "14.4x", "page", "Last runs"):
        assert figure in text, figure


def test_80_by_24_is_compact_and_fits_the_screen() -> None:
    lines = _screen(80)
    text = "\n".join(lines)
    assert len(lines) <= 24  # the runs shown are the ones that fit
    assert "redis NO" in text and "connection refused" in text  # the failing check says why
    assert "recommendations" in text and "failed" in text
    assert "…" in text  # a long reason is cut, not wrapped onto more lines
