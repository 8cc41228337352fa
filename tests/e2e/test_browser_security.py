"""In Chromium against the real server: the strict CSP lets every page draw with no violation
and no console error, and no page can be framed by another site."""

from __future__ import annotations

import pytest

from tests.e2e.test_browser_pages import PAGES, _traces

pytestmark = pytest.mark.e2e

WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_every_page_draws_under_the_strict_csp(page_as, live_server) -> None:
    """Before the fix no page sent a Content-Security-Policy at all."""
    page = page_as("admin")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.context.add_init_script(WATCH_CSP)
    for path in [*PAGES, "/admin", "/admin/accounts", "/admin/audit"]:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None
        policy = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
        assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
        for selector in PAGES.get(path, ["#nav-user"]):
            page.wait_for_selector(selector, timeout=20_000)
            if selector.endswith(("hist", "latency", "success", "freshness", "units", "clv")):
                page.wait_for_function(
                    "(sel) => { const g = document.querySelector(sel + ' .js-plotly-plot');"
                    " return g && g.data && g.data.length > 0; }",
                    arg=selector,
                    timeout=20_000,
                )
                assert _traces(page, selector) > 0
        assert page.evaluate("window.__csp") == [], path
    assert errors == []


def test_another_site_cannot_frame_the_controls(browser, live_server) -> None:
    """Before the fix the kill-switch and breaker forms could be framed by another site."""
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text))
    # a page from another origin (a data: URL is opaque, never same-origin) frames ours
    page.goto(
        "data:text/html,<iframe id=f src='" + live_server.url + "/login' width=600 height=400>"
    )
    page.wait_for_function(
        "() => document.getElementById('f') && performance.now() > 0", timeout=20_000
    )
    frame = page.wait_for_selector("#f", timeout=20_000).content_frame()
    assert frame is not None
    frame.wait_for_load_state(timeout=20_000)
    assert frame.query_selector("#login-submit") is None  # our form never rendered inside
    context.close()
