"""Deployment settings, one test per hole of issue 14 (each failed before its fix)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.models import AuditRecord, UserSession
from tests.conftest import PASSWORD, Client

DUGOUT = str(Path(sys.executable).parent / "dugout")


def _login(app, name: str, **request: object):
    http = app.test_client()
    http.get("/login", **request)
    token = next(c for c in http._cookies.values() if c.key == "_csrf_token").value
    return http, http.post(
        "/login", data={"username": name, "password": PASSWORD, "csrf_token": token}, **request
    )


def test_forced_secure_cookie_with_the_host_prefix_behind_a_tls_terminator(
    make_app, make_user
) -> None:
    """Before: behind a TLS terminator sending no X-Forwarded-Proto the cookie was not Secure."""
    app = make_app(session_cookie_secure=True)
    from app.accounts import add_user

    with app.extensions["dugout.db"].session() as s:
        add_user(s, "tls-user", PASSWORD, "viewer")
    _, r = _login(app, "tls-user")
    assert r.status_code == 302
    cookies = r.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("__Host-dugout_session="))
    assert "Secure" in session and "Path=/" in session and "Domain" not in session
    assert all("Secure" in c for c in cookies if c.startswith("_csrf_token="))


def test_trusted_proxies_decide_the_client_and_the_scheme(make_app, make_user, db) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    plain = make_app()
    name = make_user("viewer")
    _, r = _login(plain, name, headers=forwarded)
    session = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("dugout_session="))
    assert "Secure" not in session  # untrusted forwarded headers change nothing
    proxied = make_app(trusted_proxies=1)
    _, r = _login(proxied, name, headers=forwarded)
    session = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("dugout_session="))
    assert "Secure" in session and r.headers["Strict-Transport-Security"]
    with db.session() as s:
        row = s.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "login")
            .order_by(AuditRecord.seq.desc())
        ).first()
    assert row is not None and row.source_ip == "203.0.113.9"


def test_other_host_headers_are_refused(make_app) -> None:
    """Before: the Host header was not validated."""
    app = make_app(allowed_hosts="dugout.example, localhost")
    http = app.test_client()
    assert http.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
    assert http.get("/healthz", headers={"Host": "dugout.example"}).status_code == 200
    assert http.get("/healthz").status_code == 200  # the test client's localhost


def test_an_idle_session_ends(app, login_as, db) -> None:
    """Before: sessions lasted 12 h with no idle timeout."""
    client = login_as("viewer")
    assert client.http.get("/_dash-layout").status_code == 200
    idle = app.extensions["dugout.settings"].session_idle_timeout_s
    with db.session() as s:
        s.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(seconds=idle + 1)))
    assert client.http.get("/_dash-layout").status_code == 401
    with db.session() as s:
        assert s.scalars(select(UserSession)).one().revoked_at is not None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_database_wal_secret_and_checkpoint_files_are_private(app, login_as, tmp_path) -> None:
    """Before: the SQLite database and WAL files were 0644."""
    login_as("viewer")  # writes: the WAL exists
    var = tmp_path / "var"
    files = ["dugout.sqlite3", "dugout.sqlite3-wal", "secret_key", "audit-checkpoints.jsonl"]
    for name in files:
        assert stat.S_IMODE(os.stat(var / name).st_mode) == 0o600, name


def test_denied_requests_are_audited_within_a_limit_and_counted(login_as, app, db) -> None:
    """Before: anonymous or forged requests added audit rows without limit."""
    limiter = app.extensions["dugout.denied_audit"]
    clock = {"t": 0.0}
    limiter.clock = lambda: clock["t"]
    viewer = login_as("viewer")
    for _ in range(limiter.per_window + 15):
        r = viewer.callback(
            "audit-verify-result.children",
            [{"id": "audit-verify", "property": "n_clicks", "value": 1}],
        )
        assert r.status_code == 403
    registry = app.extensions["dugout.metrics"].registry
    assert registry.get_sample_value("dugout_audit_denied_suppressed_total") == 15

    def denied(action: str) -> list[AuditRecord]:
        with db.session() as s:
            q = select(AuditRecord).where(AuditRecord.action == action)
            return list(s.scalars(q).all())

    assert len(denied("verify_audit_chain")) == limiter.per_window
    clock["t"] += limiter.window_s  # the next window: the count is written as one record
    viewer.callback(
        "audit-verify-result.children", [{"id": "audit-verify", "property": "n_clicks", "value": 1}]
    )
    (summary,) = denied("denied_requests")
    assert summary.reason.startswith("15 more denied requests")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DUGOUT_ADMIN_PASSWORD", "admin"), ("DUGOUT_TRUSTED_PROXIES", "abc"),
     ("DUGOUT_SESSION_IDLE_TIMEOUT_S", "5")],
)  # fmt: skip
def test_configuration_errors_are_one_line(tmp_path, variable, value) -> None:
    """Before: DUGOUT_ADMIN_PASSWORD=admin was refused with a raw traceback."""
    env = {**os.environ, "DUGOUT_VAR_DIR": str(tmp_path / "var"), variable: value}
    env.pop("DUGOUT_DATABASE_URL", None)
    r = subprocess.run(
        [DUGOUT, "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and variable in lines[0] and "Traceback" not in r.stderr, r.stderr


def test_a_session_client_stays_logged_in_while_active(login_as) -> None:
    client: Client = login_as("viewer")
    for _ in range(3):
        assert client.http.get("/_dash-layout").status_code == 200
