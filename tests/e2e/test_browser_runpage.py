"""The on-call desk in a real browser against a real server: hidden pipelines survive the
refresh, a skipped run's reason shows in the table and on its page, the grid's cells open runs,
a run page shows its log lines and the runs chained after it, and a viewer at /admin gets a
styled 403."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app.db import Database
from app.observability.run_logs import RunLogHandler
from app.pipelines.context import PipelineContext
from app.pipelines.ledger import record_skip
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.strategies import build_strategies
from tests.e2e.grid_dom import grid_row_text

pytestmark = pytest.mark.e2e

LATENCY = "#overview-latency .js-plotly-plot"


@pytest.fixture
def live_db(live_server) -> Iterator[Database]:
    """The live server's own (embedded SQLite) database, to stage runs in."""
    db = Database(f"sqlite:///{live_server.var_dir / 'dugout.sqlite3'}")
    yield db
    assert db.engine is not None
    db.engine.dispose()


def test_hidden_pipelines_survive_the_refresh(page_as, live_server) -> None:
    """A pipeline hidden from the legend stays hidden across the 15 s refresh and a change of
    percentile (uirevision and trace uids), and durations are drawn from 0."""
    page = page_as("viewer")
    page.goto(f"{live_server.url}/")
    page.wait_for_function(
        f"() => {{ const g = document.querySelector('{LATENCY}'); return g && g.data && "
        "g.data.length > 0; }",
        timeout=30_000,
    )
    page.locator("#overview-latency .legendtoggle").first.click()  # as a user hides one
    page.wait_for_function(
        f"() => document.querySelector('{LATENCY}').data[0].visible === 'legendonly'",
        timeout=30_000,
    )
    page.evaluate(
        f"""() => {{ const g = document.querySelector('{LATENCY}'); window.dugoutPlots = 0;
            g.on('plotly_afterplot', () => {{ window.dugoutPlots += 1; }}); }}"""
    )
    # a refresh redraws the chart (waited on, not slept for) ...
    page.wait_for_function("() => window.dugoutPlots >= 1", timeout=60_000)
    # ... and a new percentile redraws it again, from new data
    page.click("#overview-percentile label:has-text('p99')")
    page.wait_for_function(
        f"() => document.querySelector('{LATENCY}').layout.yaxis.title.text.startsWith('p99')",
        timeout=30_000,
    )
    hidden = page.evaluate(f"() => document.querySelector('{LATENCY}').data[0].visible")
    assert hidden == "legendonly"
    y_range = page.evaluate(f"() => document.querySelector('{LATENCY}').layout.yaxis.range")
    assert y_range[0] == 0  # durations from 0


def test_skipped_run_shows_its_reason_in_the_table_and_on_its_page(
    page_as, live_server, live_db
) -> None:
    reason = f"throttled: e2e {uuid.uuid4().hex[:6]} runs in flight"
    now = datetime.now(UTC)
    run_id = record_skip(
        live_db.sessionmaker,  # type: ignore[arg-type]
        "grading",
        trigger="schedule",
        scheduled_for=now.replace(microsecond=0) + timedelta(days=3650),  # a tick of its own
        reason=reason,
        now=now,
    )
    page = page_as("viewer")
    page.goto(f"{live_server.url}/pipelines")
    link = f"a[href='/pipelines/{run_id}']"
    page.wait_for_selector(f"#runs-history {link}", timeout=30_000)
    row = grid_row_text(page, "#runs-history", link)  # its pinned and scrolling parts
    assert reason in row and "skipped" in row
    page.click(f"#runs-history a[href='/pipelines/{run_id}']")
    why = page.wait_for_selector("#run-reason", timeout=30_000)
    assert reason in why.inner_text()
    assert page.query_selector("text=No stages recorded.") is not None  # and why it has none


def test_grid_cells_link_to_runs(page_as, live_server) -> None:
    page = page_as("viewer")
    page.goto(f"{live_server.url}/pipelines")
    page.click("#grid-window label:has-text('24h')")
    # the 24 h grid's cells, not the default window's still on screen
    cell = page.wait_for_selector("#run-grid[data-window='24h'] a.grid-cell", timeout=30_000)
    title = cell.get_attribute("title") or ""
    assert (
        re.search(r"\d+ (succeeded|partial|failed|skipped|running|queued|interrupted)", title)
        and "mean" in title
    )
    href = cell.get_attribute("href") or ""
    assert re.fullmatch(r"/pipelines/[0-9a-f-]{36}", href), href
    page.locator(f"#run-grid a[href='{href}']").first.click()  # re-found: the grid refreshes
    page.wait_for_url(f"**{href}", timeout=30_000)
    page.wait_for_selector("#run-facts", timeout=30_000)


def test_run_page_shows_its_log_lines_and_downstream_runs(page_as, live_server, live_db) -> None:
    """A run made by the real runner, with the real run-log handler, in the live database."""
    now = datetime.now(UTC)
    tick = now.replace(microsecond=0) + timedelta(days=3651)  # a tick no scheduler will take
    handler = RunLogHandler(live_db.sessionmaker, start=False)  # type: ignore[arg-type]
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        ctx = PipelineContext(
            sessions=live_db.sessionmaker,  # type: ignore[arg-type]
            clock=lambda: now,
            sources=[DemoSource(seed=5, day=now.date())],
            strategies=build_strategies(),
        )
        run_id = run_pipeline(ctx, "collection", "schedule", scheduled_for=tick).run_id
        handler.flush()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
    record_skip(
        live_db.sessionmaker,  # type: ignore[arg-type]
        "analysis",
        trigger="dependency",
        scheduled_for=tick,
        reason="upstream collection skipped: e2e",
        now=now + timedelta(seconds=1),
    )
    page = page_as("viewer")
    page.goto(f"{live_server.url}/pipelines/{run_id}")
    logs = page.wait_for_selector("#run-logs", timeout=30_000)
    assert "run started" in logs.inner_text() and "stage finished" in logs.inner_text()
    downstream = page.wait_for_selector("#run-downstream", timeout=30_000)
    assert "downstream analysis" in downstream.inner_text()
    page.click("#run-log-level label:has-text('ERROR')")
    page.wait_for_selector("#run-logs-empty", timeout=30_000)  # no error lines in this run
    page.click("#run-downstream a")
    page.wait_for_selector(
        "#run-reason:has-text('upstream collection skipped: e2e')", timeout=30_000
    )


def test_viewer_at_admin_gets_a_styled_403(page_as, live_server) -> None:
    page = page_as("viewer")
    response = page.goto(f"{live_server.url}/admin")
    assert response is not None and response.status == 403
    card = page.wait_for_selector("#page-forbidden", timeout=30_000)
    assert "operator" in card.inner_text()
    assert page.is_visible("#nav-user")  # inside the app shell, navbar and all
    viewport = page.evaluate(
        "() => document.querySelector('meta[name=viewport]')?.getAttribute('content')"
    )
    assert viewport and "width=device-width" in viewport
    missing = page.goto(f"{live_server.url}/no-such-page")
    assert missing is not None and missing.status == 404
    page.wait_for_selector("#page-not-found", timeout=30_000)
