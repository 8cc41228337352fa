"""The one account service: the admin page and the CLI change accounts the same way (audit
first, refused when the audit write fails, the same outcome words, a reason always required)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from dash import Input, Output
from dash._utils import create_callback_id
from sqlalchemy import select, text

from app.accounts import AccountRefused, AccountService, Actor
from app.audit import REASON_MAX
from app.models import AuditRecord, User

USER_OUT = (
    "..user-outcome.children@{h}...admin-accounts-refresh.n_intervals...user-reason.value"
    "...user-intent.data@{h}.."
)


def _trail(db, action: str) -> list[tuple[str, str, str | None]]:
    """(outcome, target, reason) of every record of `action`, oldest first."""
    with db.session() as s:
        rows = s.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        ).all()
        return [(r.outcome, r.target or "", r.reason) for r in rows]


def _user(db, name: str) -> User | None:
    with db.session() as s:
        return s.scalar(select(User).where(User.username == name))


@contextmanager
def _audit_table_gone(db) -> Iterator[None]:
    """A real audit-write fault: the table is renamed away for the duration."""
    with db.session() as s:
        s.execute(text("ALTER TABLE audit_records RENAME TO audit_records_away"))
    try:
        yield
    finally:
        with db.session() as s:
            s.execute(text("ALTER TABLE audit_records_away RENAME TO audit_records"))


def _page_change(client, action: str, target: str, role: str | None, reason: str | None):
    output = Output("user-outcome", "children", allow_duplicate=True)
    key = create_callback_id(output, [Input("user-confirm", "submit_n_clicks")])
    intent = {"action": action, "target": target, "role": role, "reason": reason}
    r = client.callback(
        USER_OUT.format(h=key.split("@", 1)[1]),
        [{"id": "user-confirm", "property": "submit_n_clicks", "value": 1}],
        state=[{"id": "user-intent", "property": "data", "value": intent}],
    )
    assert r.status_code == 200, r.data
    return json.dumps(json.loads(r.data)["response"])


@pytest.fixture
def cli(app, tmp_path, database_url, monkeypatch):
    """The `dugout` CLI on the same database as `app`."""
    from app.cli import main

    monkeypatch.setenv("DUGOUT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUGOUT_LOG_LEVEL", "WARNING")
    if database_url:
        monkeypatch.setenv("DUGOUT_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("DUGOUT_DATABASE_URL", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args))

    return invoke


def test_page_and_cli_write_the_same_trail_for_the_same_change(login_as, cli, db) -> None:
    admin = login_as("admin")
    assert "Added page-made as operator" in _page_change(
        admin, "add", "page-made", "operator", "new on-call"
    )
    r = cli("users", "add", "cli-made", "--role", "operator", "--password", "a-long-password",
            "--reason", "new on-call")  # fmt: skip
    assert r.exit_code == 0, r.output
    trail = _trail(db, "user_add")
    assert trail == [
        ("requested", "page-made:operator", "new on-call"),
        ("succeeded", "page-made:operator", "new on-call"),
        ("requested", "cli-made:operator", "new on-call"),
        ("succeeded", "cli-made:operator", "new on-call"),
    ]
    # a refused change: the same word from both, with the refusal as the reason
    assert "already exists" in _page_change(admin, "add", "cli-made", "viewer", "again")
    r = cli("users", "add", "page-made", "--password", "a-long-password", "--reason", "again")
    assert r.exit_code == 1 and "already exists" in r.output
    refusals = [t for t in _trail(db, "user_add") if t[0] not in ("requested", "succeeded")]
    assert [(o, t) for o, t, _ in refusals] == [
        ("refused", "cli-made:viewer"),
        ("refused", "page-made:viewer"),
    ]


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * (REASON_MAX + 1)])
def test_a_reason_is_required_in_the_page_and_the_cli(login_as, cli, db, reason) -> None:
    admin = login_as("admin")
    shown = _page_change(admin, "add", "no-reason-page", "viewer", reason)
    assert "Refused" in shown and ("reason is required" in shown or "too long" in shown)
    args = ["users", "add", "no-reason-cli", "--password", "a-long-password"]
    r = cli(*args, *(["--reason", reason] if reason is not None else []))
    assert r.exit_code == 1 and "reason" in r.output and "Traceback" not in r.output
    assert _user(db, "no-reason-page") is None and _user(db, "no-reason-cli") is None
    assert {o for o, _, _ in _trail(db, "user_add")} == {"refused"}
    with db.session() as s:  # a too-long reason never reaches the log whole
        assert all(len(r.reason or "") <= REASON_MAX * 4 for r in s.scalars(select(AuditRecord)))


def test_no_audit_record_no_change_in_the_page_and_the_cli(login_as, cli, db) -> None:
    admin = login_as("admin")
    with _audit_table_gone(db):
        shown = _page_change(admin, "add", "ghost-page", "viewer", "should not happen")
        r = cli("users", "add", "ghost-cli", "--password", "a-long-password", "--reason", "no")
    assert "audit log is unavailable" in shown
    assert r.exit_code == 1 and "audit log is unavailable" in r.output
    assert _user(db, "ghost-page") is None and _user(db, "ghost-cli") is None


def test_the_service_refuses_a_non_admin_actor_and_audits_it(app, db) -> None:
    from app.audit import audit_log

    operator = AccountService(audit_log(app), Actor("otto", "operator"))
    with pytest.raises(AccountRefused, match="admin role"):
        operator.add("mallory", "admin", "promote me", "a-long-password")
    assert _user(db, "mallory") is None
    assert _trail(db, "user_add") == [
        ("denied", "mallory:admin", "changing accounts needs the admin role.")
    ]


def test_every_cli_account_change_needs_a_reason(cli, db) -> None:
    made = cli("users", "add", "rita", "--password", "a-long-password", "--reason", "hire")
    assert made.exit_code == 0
    for args in (
        ("set-role", "rita", "operator"),
        ("disable", "rita"),
        ("enable", "rita"),
        ("reset-password", "rita"),
        ("token", "rita"),
    ):
        r = cli("users", *args)
        assert r.exit_code == 1 and "a reason is required" in r.output, args
    user = _user(db, "rita")
    assert user is not None and user.role == "viewer" and user.api_token_hash is None
