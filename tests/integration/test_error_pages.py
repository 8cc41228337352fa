"""403 and 404 inside the app shell, with their real status codes (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.models import AuditRecord


def test_viewer_at_admin_gets_the_shell_with_403_and_an_audit_row(login_as, db) -> None:
    viewer = login_as("viewer")
    r = viewer.http.get("/admin")
    assert r.status_code == 403
    html = r.get_data(as_text=True)
    assert 'name="viewport"' in html and "_dash-renderer" in html  # the shell, not plain text
    page = json.dumps(json.loads(viewer.page("/admin").data)["response"])
    assert "page-forbidden" in page and "needs the operator role" in page and "403" in page
    with db.session() as s:
        denied = s.scalars(select(AuditRecord).where(AuditRecord.action == "open_page")).all()
    assert denied and denied[-1].outcome == "denied"


def test_unknown_urls_answer_404_in_the_shell(login_as) -> None:
    viewer = login_as("viewer")
    for path in ("/no-such-page", "/pipelines/a/b", "/admin/nothing"):
        r = viewer.http.get(path)
        assert r.status_code == 404, path
        assert "_dash-renderer" in r.get_data(as_text=True)
    page = json.dumps(json.loads(viewer.page("/no-such-page").data)["response"])
    assert "page-not-found" in page and "No page here" in page
    for path in ("/", "/pipelines", "/pipelines/", "/bets"):
        assert viewer.http.get(path).status_code == 200, path
    assert viewer.http.get(f"/pipelines/{'0' * 8}").status_code == 200  # its page says missing
    assert viewer.http.get("/api/nothing-here").status_code == 404
