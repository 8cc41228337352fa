"""In a real browser against a real server: roles, forged callbacks, logout."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import USERS
from tests.e2e.grid_dom import wait_grid_text

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_each_role_logs_in_and_sees_its_navigation(page_as, role) -> None:
    page = page_as(role)
    assert USERS[role] in page.inner_text("#nav-user")
    page.wait_for_selector("#overview-cards, #overview-empty", timeout=20_000)
    assert page.is_visible("#nav-overview")
    assert page.is_visible("#nav-admin") == (role != "viewer")


def test_viewer_forging_admin_callback_is_refused_and_audited(page_as, live_server) -> None:
    page = page_as("viewer")
    # POST the admin-only callback by hand, from inside the logged-in page (cookie + CSRF header)
    status = page.evaluate("""async () => {
        const token = document.cookie.split('; ').find(c => c.startsWith('_csrf_token=')).split('=')[1];
        const r = await fetch('/_dash-update-component', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': token},
            body: JSON.stringify({output: 'audit-verify-result.children',
                outputs: {id: 'audit-verify-result', property: 'children'},
                inputs: [{id: 'audit-verify', property: 'n_clicks', value: 1}],
                changedPropIds: ['audit-verify.n_clicks']})});
        return r.status; }""")
    assert status == 403
    response = page.goto(f"{live_server.url}/admin")
    assert response is not None and response.status == 403
    # the refusal is in the audit log, seen by the admin
    admin = page_as("admin")
    admin.goto(f"{live_server.url}/admin/audit")
    wait_grid_text(admin, "#audit-table", "text.includes('verify_audit_chain')", 30_000)
    text = admin.inner_text("#audit-table .ag-body")
    assert "verify_audit_chain" in text and "denied" in text and USERS["viewer"] in text


def test_admin_verifies_audit_chain_in_the_page(page_as, live_server) -> None:
    page = page_as("admin")
    page.click("#nav-audit")
    page.click("#audit-verify")
    page.wait_for_selector("text=Chain intact", timeout=20_000)


def test_logout_then_old_cookie_is_refused(page_as, live_server) -> None:
    page = page_as("operator")
    cookie = next(c for c in page.context.cookies() if c["name"] == "dugout_session")
    page.click("#nav-logout")
    page.wait_for_selector("#login-submit", timeout=20_000)
    replay = httpx.get(
        f"{live_server.url}/_dash-layout", cookies={"dugout_session": cookie["value"]}, timeout=10
    )
    assert replay.status_code == 401


def test_wrong_password_shows_plain_message(browser, live_server) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("#username", USERS["viewer"])
    page.fill("#password", PASSWORD + "x")
    page.click("#login-submit")
    assert "Wrong username or password." in page.inner_text(".alert")
    context.close()


@pytest.mark.parametrize("target", ["/\t/evil.invalid/", "/\r\n/evil.invalid/", "//evil.invalid/"])
def test_sign_in_with_a_hostile_next_keeps_chromium_on_this_site(
    browser, live_server, target
) -> None:
    """Before the fix, "/\\t/evil.invalid/" reached Chromium as Location: //evil.invalid/."""
    from urllib.parse import quote, urlsplit

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/login?next={quote(target)}")
    # the form could come from anywhere: post the raw value, not what our page rendered
    page.evaluate("t => { document.querySelector('input[name=next]').value = t; }", target)
    page.fill("#username", USERS["viewer"])
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#nav-user", timeout=20_000)
    assert urlsplit(page.url).netloc == urlsplit(live_server.url).netloc, page.url
    context.close()
