"""The `dugout` command: users, audit verify, db upgrade, clear errors and exit codes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, text

from app.cli import main
from app.models import AuditRecord, User


@pytest.fixture
def run_cli(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DUGOUT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUGOUT_LOG_LEVEL", "WARNING")
    if database_url:
        monkeypatch.setenv("DUGOUT_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("DUGOUT_DATABASE_URL", raising=False)

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(main, list(args), input=input)

    return invoke


def test_user_lifecycle(run_cli) -> None:
    assert run_cli("db", "upgrade").exit_code == 0
    why = ("--reason", "on-call rota")
    r = run_cli("users", "add", "otto", "--role", "operator", "--password", "a-long-password", *why)
    assert r.exit_code == 0 and "created otto (operator)" in r.output
    assert run_cli("users", "add", "otto", "--password", "a-long-password", *why).exit_code == 1
    r = run_cli("users", "add", "weak", "--password", "short", *why)
    assert r.exit_code == 1 and "at least 12 characters" in r.output
    r = run_cli("users", "add", "prompted", *why, input="another-long-pw\nanother-long-pw\n")
    assert r.exit_code == 0
    assert run_cli("users", "set-role", "otto", "admin", *why).exit_code == 0
    assert run_cli("users", "set-role", "otto", "king", *why).exit_code == 2
    assert run_cli("users", "disable", "otto", *why).exit_code == 0
    listing = run_cli("users", "list").output
    assert "otto" in listing and "admin" in listing and "disabled" in listing
    r = run_cli("users", "reset-password", "otto", *why)
    assert r.exit_code == 0 and "new password for otto:" in r.output
    assert run_cli("users", "disable", "ghost", *why).exit_code == 1
    r = run_cli("audit", "verify")
    assert r.exit_code == 0 and "audit chain intact" in r.output


def test_audit_verify_names_the_broken_row(run_cli, database_url, tmp_path) -> None:
    from app.config import load_settings
    from app.db import Database

    run_cli("users", "add", "a1", "--password", "a-long-password", "--reason", "test")
    run_cli("users", "add", "a2", "--password", "a-long-password", "--reason", "test")
    settings = load_settings({"var_dir": str(tmp_path / "var"), "database_url": database_url})
    db = Database(settings.resolved_database_url)
    with db.session() as s:
        if database_url:  # a superuser sets the append-only trigger aside
            s.execute(text("SET LOCAL session_replication_role = replica"))
        row = s.scalar(select(AuditRecord).order_by(AuditRecord.seq).limit(1))
        row.target = "someone-else"
        broken_id = str(row.id)
    r = run_cli("audit", "verify")
    assert r.exit_code == 1 and "seq=1" in r.output and broken_id in r.output
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "a1")) is not None
    db.dispose()


def test_a_first_start_on_the_closed_demo_market_says_when_it_opens_and_how_to_seed(
    run_cli, tmp_path, monkeypatch
) -> None:
    from datetime import UTC, datetime

    from app.cli import Context, empty_ledger_hint
    from app.pipelines.build import build_sources
    from app.pipelines.sources.demo_calendar import day_bounds

    night = datetime(2026, 7, 4, 5, 0, tzinfo=UTC)  # after the last pitch, before the next slate
    monkeypatch.setenv("DUGOUT_DEMO_HOURS", "mlb")  # MLB's hours: closed overnight
    ctx = Context()
    opens, _ = day_bounds(list(build_sources(ctx.settings, now=night)[0].games))
    assert night < opens
    hint = empty_ledger_hint(ctx, night)
    assert hint is not None
    assert f"opens at {opens:%H:%M} UTC" in hint and "dugout demo seed --hours 30" in hint
    assert "opens at" not in (empty_ledger_hint(ctx, opens) or "")  # open: only the seed hint
    monkeypatch.setenv("DUGOUT_DEMO_HOURS", "rolling")  # the default: open at any hour
    rolling = empty_ledger_hint(Context(), night)
    assert rolling is not None and "opens at" not in rolling and "demo seed" in rolling

    assert run_cli("demo", "seed", "--hours", "0.1", "--step", "120").exit_code == 0
    assert empty_ledger_hint(Context(), night) is None  # history exists: nothing to say
    monkeypatch.setenv("DUGOUT_SOURCE", "odds_api")
    assert empty_ledger_hint(Context(), night) is None


def _rehash_from(s, seq: int) -> None:
    """Rewrite record `seq` and recompute it and every later record with plain SHA-256."""
    from app.audit import _HASHED_FIELDS, compute_row_hash

    rows = s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
    prev = rows[seq - 2].row_hash
    for row in rows[seq - 1 :]:
        if row.seq == seq:
            row.reason = "forged"
        row.prev_hash = prev
        row.row_hash = compute_row_hash({f: getattr(row, f) for f in _HASHED_FIELDS})
        prev = row.row_hash


TAMPERING = {
    "edit": (lambda s: s.execute(
        AuditRecord.__table__.update().where(AuditRecord.seq == 3).values(outcome="x")),
        "rewritten record"),
    "delete middle": (lambda s: s.execute(delete(AuditRecord).where(AuditRecord.seq == 3)),
                      "deleted records"),
    "delete tail": (lambda s: s.execute(delete(AuditRecord).where(AuditRecord.seq > 4)),
                    "truncated tail"),
    "delete all": (lambda s: s.execute(delete(AuditRecord)), "truncated tail"),
    "rewrite and re-hash": (lambda s: _rehash_from(s, 3), "rewritten record"),
}  # fmt: skip


@pytest.mark.parametrize("how", list(TAMPERING))
def test_audit_verify_names_each_kind_of_tampering(run_cli, database_url, tmp_path, how) -> None:
    """Before the MAC and the checkpoints, delete tail, delete all and re-hash exited 0."""
    from app.config import load_settings
    from app.db import Database

    for i in range(6):
        name = f"user{i}"
        assert (
            run_cli(
                "users", "add", name, "--password", "a-long-password", "--reason", "t"
            ).exit_code
            == 0
        )
    assert run_cli("audit", "verify").exit_code == 0
    settings = load_settings({"var_dir": str(tmp_path / "var"), "database_url": database_url})
    db = Database(settings.resolved_database_url)
    tamper, kind = TAMPERING[how]
    with db.session() as s:
        if database_url:
            s.execute(text("SET LOCAL session_replication_role = replica"))
        tamper(s)
    db.dispose()
    r = run_cli("audit", "verify")
    assert r.exit_code == 1 and "BROKEN" in r.output and kind in r.output, r.output
