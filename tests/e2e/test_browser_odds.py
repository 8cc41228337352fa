"""The odds screen in a real browser: each game a grid of books x markets with the best price
per side marked, and a game's Line history link drawing its line history (kept on reload)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e
HISTORY = """() => { const g = document.querySelector('#odds-history .js-plotly-plot');
    return g && g.data && g.data.length > 0 && g.layout.title
        ? [g.layout.title.text || '', g.data.length] : null; }"""


def test_odds_boards_mark_the_best_price_and_a_game_shows_its_history(page_as, live_server) -> None:
    page = page_as("viewer")
    page.goto(f"{live_server.url}/odds")
    page.wait_for_selector("#odds-boards .card .odds-table .ag-cell", timeout=90_000)
    card = page.query_selector("#odds-boards .card")
    heads = [h.inner_text() for h in card.query_selector_all(".ag-header-group-cell")]
    assert {"Moneyline", "Run line", "Total"} <= {h.strip() for h in heads}, heads
    books = [c.inner_text() for c in card.query_selector_all(".ag-row [col-id='book']")]
    assert len(books) >= 3 and books[-1] == "Fair (sharp)", books  # each book, then the fair
    best = card.query_selector_all(".ag-cell.odds-best")
    assert best, "no best price marked"
    assert all(re.search(r"[+-]\d{3,}", b.inner_text()) for b in best)  # signed American odds
    # read in one step in the page: a refresh may redraw the grid between two calls, and a
    # detached cell has no computed style
    weight = page.wait_for_function(
        """() => { const c = document.querySelector('#odds-boards .ag-cell.odds-best');
            const w = c && c.isConnected ? getComputedStyle(c).fontWeight : '';
            return w ? w : null; }""",
        timeout=30_000,
    ).json_value()
    assert int(weight) >= 700  # bold, not colour alone
    # the columns are sized on the server from their texts: every price, bold or not, fits
    clipped = page.evaluate(
        """() => Array.from(document.querySelectorAll('#odds-boards .ag-cell-value'))
            .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent)"""
    )
    assert clipped == [], clipped
    page.locator("#odds-boards .card .odds-history-link").first.click()  # found anew if redrawn
    page.wait_for_url(re.compile(r"/odds\?game="), timeout=30_000)
    page.wait_for_function(HISTORY, timeout=60_000)
    title, traces = page.evaluate(HISTORY)
    assert traces > 0 and title.endswith(": Moneyline"), title  # every book's steps
    page.reload()  # the chosen game lives in the address: a reload keeps it
    page.wait_for_function(HISTORY, timeout=60_000)
    assert page.evaluate(HISTORY)[0] == title
