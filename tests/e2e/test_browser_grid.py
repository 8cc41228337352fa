"""The long tables in a real browser: the run history grid sorts and filters on the server,
and scrolling past the first block fetches the next one (the browser never holds all runs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from components.grid import BLOCK
from tests.e2e.grid_dom import grid_rows, wait_grid_text
from tests.e2e.test_browser_bets import _db, _new_game, _single

pytestmark = pytest.mark.e2e
GRID = "#runs-history"
XSS = '<img src=x onerror="window.__xss=1">'


def _block_requests(page) -> list[dict]:
    """Every block the runs grid has asked the server for, as the grid sent it."""
    asked: list[dict] = []

    def note(request) -> None:
        body = request.post_data or ""
        if "/_dash-update-component" in request.url and "getRowsRequest" in body:
            value = json.loads(body)["inputs"][0].get("value")
            if value:
                asked.append(value)

    page.on("request", note)
    return asked


def test_runs_grid_sorts_filters_and_pages_on_the_server(page_as, live_server) -> None:
    page = page_as("viewer")
    asked = _block_requests(page)
    page.goto(f"{live_server.url}/pipelines")
    page.wait_for_selector(f"{GRID} .ag-row a.grid-run-link", timeout=60_000)
    count = page.inner_text("#runs-count")
    assert int(count.split()[0]) > BLOCK, count  # the seeded day is longer than one block
    assert asked and asked[0]["startRow"] == 0 and asked[0]["endRow"] == BLOCK, asked

    # sorting: a click on the header asks the server again, sorted, and the rows follow
    page.click(f"{GRID} .ag-header-cell[col-id=duration_ms] .ag-header-cell-label")
    page.wait_for_function(
        """(grid) => {
            const cells = [...document.querySelectorAll(grid + ' .ag-row[row-index]')]
                .sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))
                .map(r => r.querySelector('.ag-cell[col-id=duration_ms]'))
                .filter(c => c && c.innerText.trim() !== '')
                .map(c => parseFloat(c.innerText));
            return cells.length > 5 && cells.every((v, i) => i === 0 || cells[i - 1] <= v);
        }""",
        arg=GRID,
        timeout=30_000,
    )
    sorts = [(r.get("sortModel") or [{}])[0] for r in asked]
    assert any(s.get("colId") == "duration_ms" and s.get("sort") == "asc" for s in sorts)
    durations = [float(r["Duration (ms)"]) for r in grid_rows(page, GRID) if r.get("Duration (ms)")]
    assert durations == sorted(durations)

    # a column filter: the By column's text box, matched in SQL
    by = f"{GRID} input[aria-label='By Filter Input']"
    page.click(by)
    page.keyboard.type("nobody-at-all", delay=20)  # as a person types: the filter follows
    page.wait_for_function(
        "() => document.querySelector('#runs-count').innerText.includes('No runs match')",
        timeout=30_000,
    )
    assert any(
        (r.get("filterModel") or {}).get("actor", {}).get("filter") == "nobody-at-all"
        for r in asked
    )
    page.click(by)
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.wait_for_selector(f"{GRID} .ag-row a.grid-run-link", timeout=30_000)

    # paging: scrolling to the end fetches the second block, and only then
    assert not any(r["startRow"] >= BLOCK for r in asked)
    page.wait_for_function(
        """([grid, block]) => {
            const body = document.querySelector(grid + ' .ag-body-viewport');
            body.scrollTop = body.scrollHeight;
            return [...document.querySelectorAll(grid + ' .ag-row[row-index]')].some(
                r => Number(r.getAttribute('row-index')) >= block
                    && r.querySelector('a.grid-run-link'));
        }""",
        arg=[GRID, BLOCK],
        timeout=60_000,
        polling=500,
    )
    assert any(r["startRow"] == BLOCK for r in asked)
    assert all(r["endRow"] - r["startRow"] <= BLOCK for r in asked)  # one block at a time


def test_hostile_feed_text_in_a_grid_cell_stays_text(page_as, live_server) -> None:
    """Cells are text: markup a feed sends (a team tag, a strategy tag) is shown, never run."""
    db = _db(live_server)
    game = _new_game(db, datetime.now(UTC) + timedelta(hours=7), "HOU", "TEX")
    with db.session() as s:
        s.add(_single(game, book="xss_book", strategies=[XSS, "ev"]))
    page = page_as("viewer")
    page.goto(f"{live_server.url}/bets?book=xss_book")
    wait_grid_text(page, "#bets-table", "text.includes('Houston Astros')")
    (row,) = [r for r in grid_rows(page, "#bets-table") if "Houston" in r.get("Game", "")]
    assert XSS in row["Strategies"]  # shown as the characters it is
    assert page.query_selector("#bets-table img") is None
    assert page.evaluate("() => window.__xss === undefined")
