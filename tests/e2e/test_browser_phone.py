"""Phones: at 390 px wide no page scrolls sideways (the document is no wider than the
viewport once its data has drawn), and the Plotly toolbar stays out of the way on touch."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import USERS

pytestmark = pytest.mark.e2e
WIDTH = 390
# every page, and what shows its data has drawn (a chart, a table, a card)
PAGES = {
    "viewer": {
        "/": "#overview-latency .js-plotly-plot",
        "/pipelines": "#runs-history",
        "/strategies": "#strategy-units .js-plotly-plot",
        "/opportunities": "#opp-ev-hist .js-plotly-plot",
        "/bets": "#bets-table",
        "/odds": "#odds-boards .card",
    },
    "admin": {
        "/admin": "#job-target",
        "/admin/accounts": "#admin-users",
        "/admin/audit": "main h1, main h2, main h3",
    },
}


@pytest.fixture
def phone_as(browser, live_server):
    """A phone-sized touch context logged in as `role`."""
    contexts = []

    def factory(role: str):
        context = browser.new_context(
            viewport={"width": WIDTH, "height": 844}, is_mobile=True, has_touch=True
        )
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.url}/login")
        page.fill("#username", USERS[role])
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#nav-toggler", timeout=60_000)
        return page

    yield factory
    for context in contexts:
        context.close()


def _overflow(page) -> dict:
    return page.evaluate(
        """() => {
            const doc = document.documentElement;
            const wide = [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 391)
                .filter(e => !e.closest('.dugout-grid'))
                .slice(-6).map(e => e.tagName + '#' + e.id + '.' + e.className);
            return {scroll: doc.scrollWidth, body: document.body.scrollWidth,
                    width: window.innerWidth, wide};
        }"""
    )


@pytest.mark.parametrize(
    ("role", "path"), [(role, path) for role, pages in PAGES.items() for path in pages]
)
def test_no_page_scrolls_sideways_on_a_phone(phone_as, live_server, role, path) -> None:
    page = phone_as(role)
    page.goto(f"{live_server.url}{path}")
    page.wait_for_selector(PAGES[role][path], timeout=90_000)
    page.wait_for_load_state("networkidle")
    found = _overflow(page)
    assert found["width"] == WIDTH, found  # the layout viewport is the phone's (meta viewport)
    assert found["scroll"] <= found["width"] and found["body"] <= found["width"], found


def test_plotly_toolbar_hidden_on_touch(phone_as, live_server) -> None:
    page = phone_as("viewer")
    page.goto(f"{live_server.url}/opportunities")
    page.wait_for_selector(
        "#opp-ev-hist .js-plotly-plot .modebar", state="attached", timeout=90_000
    )
    shown = page.evaluate(
        "() => [...document.querySelectorAll('.modebar-container, .modebar')]"
        ".map(e => getComputedStyle(e).display)"
    )
    assert shown and set(shown) == {"none"}
