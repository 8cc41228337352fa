"""In a real browser against a real server with seeded demo history: every page draws its
charts, an operator's run-now shows up in the history, the kill switch banner is everywhere."""

from __future__ import annotations

import pytest

from tests.e2e.grid_dom import grid_row_text

pytestmark = pytest.mark.e2e

PAGES = {
    "/": ["#overview-latency", "#overview-success", "#overview-freshness"],
    "/pipelines": ["#runs-history"],
    "/strategies": ["#strategy-units", "#strategy-clv"],
    "/opportunities": ["#opp-ev-hist", "#opp-latency-hist"],
}


def _traces(page, selector: str) -> int:
    """How many traces Plotly drew in the graph at `selector`."""
    return int(
        page.evaluate(
            "(sel) => { const g = document.querySelector(sel + ' .js-plotly-plot');"
            " return g && g.data ? g.data.length : 0; }",
            selector,
        )
    )


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_renders_from_seeded_data(page_as, live_server, path) -> None:
    page = page_as("viewer")
    page.goto(f"{live_server.url}{path}")
    for selector in PAGES[path]:
        page.wait_for_selector(selector, timeout=20_000)
        if selector != "#runs-history":
            page.wait_for_function(
                "(sel) => { const g = document.querySelector(sel + ' .js-plotly-plot');"
                " return g && g.data && g.data.length > 0; }",
                arg=selector,
                timeout=20_000,
            )
            assert _traces(page, selector) > 0
    if path == "/":
        page.wait_for_selector("#slo-cards", timeout=20_000)
    if path == "/pipelines":
        page.wait_for_selector("#runs-history .ag-row a.grid-run-link", timeout=20_000)


def test_viewer_sees_no_admin_controls(page_as, live_server) -> None:
    page = page_as("viewer")
    assert not page.is_visible("#nav-admin")
    assert not page.is_visible("#nav-accounts") and not page.is_visible("#nav-audit")
    for control in ("#job-apply", "#breaker-reset", "#kill-engage", "#user-apply"):
        assert page.query_selector(control) is None


def test_operator_run_now_appears_in_history(page_as, live_server) -> None:
    page = page_as("operator")
    page.click("#nav-admin")
    page.wait_for_selector("#job-target option[value='grading']", state="attached", timeout=30_000)
    assert page.query_selector("#kill-engage") is None  # an operator has no kill switch
    page.select_option("#job-target", "grading")
    page.fill("#job-reason", "e2e: regrade after a late final")
    page.once("dialog", lambda dialog: dialog.accept())  # the confirmation
    page.click("#job-apply")
    link = page.wait_for_selector("#job-run-link", timeout=20_000)
    run_id = link.inner_text().strip()
    page.goto(f"{live_server.url}/pipelines")
    page.wait_for_selector(f"#runs-history a[href='/pipelines/{run_id}']", timeout=30_000)
    row = grid_row_text(page, "#runs-history", f"a[href='/pipelines/{run_id}']")
    assert "manual" in row and "otto" in row


def test_kill_switch_banner_on_every_page(page_as, live_server) -> None:
    admin = page_as("admin")
    admin.click("#nav-admin")
    admin.wait_for_selector("#kill-engage", timeout=20_000)
    admin.wait_for_selector("#kill-state-lifted", timeout=20_000)
    assert admin.is_disabled("#kill-lift") and not admin.is_disabled("#kill-engage")
    admin.fill("#kill-reason", "e2e: feed is lying")
    admin.click("#kill-engage")  # a dialog asks for the word typed
    admin.wait_for_selector("#kill-typed", state="visible", timeout=20_000)
    admin.click("#kill-confirm-ok")
    admin.wait_for_selector("text=type ENGAGE (in capitals)", timeout=20_000)
    admin.fill("#kill-typed", "ENGAGE")
    admin.click("#kill-confirm-ok")
    admin.wait_for_selector("text=Kill switch engaged: scheduled runs stop now.", timeout=20_000)
    admin.wait_for_selector("#kill-state-engaged", timeout=20_000)
    assert admin.is_disabled("#kill-engage") and admin.input_value("#kill-reason") == ""
    try:
        viewer = page_as("viewer")
        for path in [*PAGES, "/admin"]:
            target = admin if path == "/admin" else viewer
            target.goto(f"{live_server.url}{path}")
            banner = target.wait_for_selector("#kill-switch-engaged", timeout=20_000)
            assert "e2e: feed is lying" in banner.inner_text()
    finally:
        admin.goto(f"{live_server.url}/admin")
        admin.wait_for_selector("#kill-lift", timeout=20_000)
        admin.fill("#kill-reason", "e2e: done")
        admin.click("#kill-lift")
        admin.wait_for_selector("#kill-confirm-ok", state="visible", timeout=20_000)
        admin.click("#kill-confirm-ok")  # lifting needs no word
        admin.wait_for_selector("text=Kill switch lifted", timeout=20_000)
    admin.goto(f"{live_server.url}/")
    admin.wait_for_selector("#slo-cards", timeout=20_000)
    assert admin.query_selector("#kill-switch-engaged") is None
