"""The odds screen in a real browser: each game a grid of books x markets with the best price
per side marked, and a game's Line history link drawing its line history (kept on reload)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e
HISTORY = """() => { const g = document.querySelector('#odds-history .js-plotly-plot');
    return g && g.data && g.data.length > 0 && g.layout.title
        ? [g.layout.title.text || '', g.data.length] : null; }"""


@pytest.mark.xfail(
    reason="on main since the charts' keep-view change (ffd9a69) the odds page stops answering "
    "in Chromium once its boards draw (test_browser_phone's /odds case fails the same way)",
    strict=False,
)
def test_odds_boards_mark_the_best_price_and_a_game_shows_its_history(page_as, live_server) -> None:
    page = page_as("viewer")
    page.goto(f"{live_server.url}/odds")
    page.wait_for_selector("#odds-boards .card .odds-table", timeout=90_000)
    card = page.query_selector("#odds-boards .card")
    heads = [h.inner_text().split("\n")[0] for h in card.query_selector_all("thead th")]
    assert {"Moneyline", "Run line", "Total"} <= set(heads), heads
    books = [th.inner_text() for th in card.query_selector_all("tbody tr th")]
    assert len(books) >= 2, books  # one row per book (and the fair price)
    best = card.query_selector_all("td.odds-best .fw-bold")
    assert best, "no best price marked"
    assert all(re.search(r"[+-]\d{3,}", b.inner_text()) for b in best)  # signed American odds
    card.query_selector(".odds-history-link").click()
    page.wait_for_url(re.compile(r"/odds\?game="), timeout=30_000)
    page.wait_for_function(HISTORY, timeout=60_000)
    title, traces = page.evaluate(HISTORY)
    assert traces > 0 and title.endswith(": Moneyline"), title  # every book's steps
    page.reload()  # the chosen game lives in the address: a reload keeps it
    page.wait_for_function(HISTORY, timeout=60_000)
    assert page.evaluate(HISTORY)[0] == title
