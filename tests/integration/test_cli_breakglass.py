"""`dugout jobs|breaker|kill-switch` (SQLite and PostgreSQL): locally as the CLI's operator or
`--as` an account, and against a real server on a local port with an API token; each as
viewer (refused, audited), operator and admin, with and without a reason, under the kill switch,
and with a scheduler leader applying what was asked."""

from __future__ import annotations

import getpass
import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from werkzeug.serving import make_server

from app.accounts import issue_api_token
from app.cli import main
from app.models import AuditRecord, JobSchedule, PipelineRun, SchedulerCommand
from scheduler import init_scheduler, stop_scheduler
from scheduler.schedule import JobSpec, seed_schedule

CLI_ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def app(make_app):
    """The server side: the same database and var dir the CLI below uses."""
    application = make_app(scheduler_heartbeat_s=0.2, scheduler_lease_ttl_s=2)
    seed_schedule(application.extensions["dugout.db"].sessionmaker)
    yield application
    stop_scheduler(application)


@pytest.fixture
def dugout(app, database_url, tmp_path, monkeypatch):
    """Run `dugout ...` in this process, on the app's database; (exit code, output)."""
    monkeypatch.setenv("DUGOUT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUGOUT_LOG_LEVEL", "WARNING")
    for name in ("DUGOUT_URL", "DUGOUT_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    if database_url:
        monkeypatch.setenv("DUGOUT_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("DUGOUT_DATABASE_URL", raising=False)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, list(args))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    return invoke


@pytest.fixture
def served(app) -> Iterator[str]:
    """The app served over real HTTP on a local port (werkzeug, threaded); its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def _token(db, username: str) -> str:
    with db.session() as s:
        return issue_api_token(s, username)


def _audit(db, actor: str) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(
            select(AuditRecord).where(AuditRecord.actor == actor).order_by(AuditRecord.seq)
        ).all()
        return [(r.action, r.outcome) for r in rows]


def _commands(db) -> list[tuple[str, str | None, str]]:
    with db.session() as s:
        rows = s.scalars(select(SchedulerCommand).order_by(SchedulerCommand.created_at)).all()
        return [(c.command, c.target, c.requested_by) for c in rows]


# --- locally ----------------------------------------------------------------------------------


def test_locally_the_cli_operator_needs_a_reason_and_is_audited_first(dugout, db) -> None:
    code, out = dugout("jobs", "pause", "grading")
    assert code == 1 and "Say why: a reason is required. (--reason)" in out
    assert _audit(db, CLI_ACTOR) == [("pause", "refused")]
    code, out = dugout("jobs", "pause", "grading", "--reason", "maintenance", "--wait", "0")
    assert code == 3 and "requested and audited" in out and "no scheduler leader" in out
    assert _commands(db) == [("pause", "grading", CLI_ACTOR)]
    with db.session() as s:
        request = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert (request.role, request.source_ip) == ("cli", "local")
        assert request.user_agent == f"dugout-cli (os user {getpass.getuser()})"
    code, out = dugout("jobs", "pause", "nope", "--reason", "x")
    assert code == 1 and "No job 'nope' in the schedule." in out
    code, out = dugout("jobs", "list")
    assert code == 0 and "grading" in out and "kill switch: lifted" in out
    code, out = dugout("breaker", "list", "--json")
    assert code == 0 and {b["name"] for b in json.loads(out)} >= {"collection", "grading"}


@pytest.mark.parametrize(
    ("args", "needs"),
    [
        (("jobs", "pause", "grading"), "operator"),
        (("jobs", "resume", "grading"), "operator"),
        (("jobs", "run", "grading"), "operator"),
        (("breaker", "reset", "collection"), "operator"),
        (("kill-switch", "engage"), "admin"),
        (("kill-switch", "lift"), "admin"),
    ],
)
def test_locally_as_a_viewer_every_action_is_refused_and_audited(
    dugout, db, make_user, args, needs
) -> None:
    viewer = make_user("viewer")
    code, out = dugout(*args, "--reason", "curious", "--as", viewer)
    assert code == 1 and f"needs the {needs} role" in out
    assert [outcome for _, outcome in _audit(db, viewer)] == ["denied"]
    assert _commands(db) == []


def test_locally_the_kill_switch_stops_an_operator_but_not_an_admin(dugout, db, make_user) -> None:
    operator, admin = make_user("operator"), make_user("admin")
    code, out = dugout("kill-switch", "engage", "--reason", "books off", "--as", operator)
    assert code == 1 and "needs the admin role" in out
    code, out = dugout(
        "kill-switch", "engage", "--reason", "books off", "--as", admin, "--wait", "0"
    )
    assert code == 0 and "kill switch engaged" in out
    code, out = dugout("kill-switch", "status")
    assert code == 0 and "ENGAGED since" in out and f"by {admin}: books off" in out
    code, out = dugout("jobs", "run", "grading", "--reason", "please", "--as", operator)
    assert code == 1 and "The kill switch is engaged: only an admin may run a pipeline." in out
    code, out = dugout("jobs", "run", "grading", "--reason", "break glass", "--as", admin)
    assert code == 0, out
    run_id = out.split()[1]
    with db.session() as s:  # it ran here, in the foreground, and ended before the CLI did
        run = s.get(PipelineRun, uuid.UUID(run_id))
        assert (run.actor, run.trigger) == (admin, "manual") and run.status != "running"
    assert _audit(db, admin) == [
        ("kill_switch", "requested"),
        ("run_now", "requested"),
        ("run_now", "succeeded"),
    ]
    assert [o for _, o in _audit(db, operator)] == ["denied", "denied"]
    code, out = dugout("kill-switch", "lift", "--reason", "all clear", "--wait", "0")
    assert code == 0 and "kill switch lifted" in out


def test_the_executor_switch_goes_through_the_same_policy(dugout, db) -> None:
    code, out = dugout("executor", "celery", "--reason", "try")
    assert code == 1 and "Celery is not configured here" in out
    code, out = dugout("executor", "local", "--reason", "  ")
    assert code == 1 and "Say why: a reason is required." in out
    code, out = dugout("executor", "local", "--reason", "redis is down")
    assert code == 0 and "executor switched to local" in out
    assert _audit(db, CLI_ACTOR) == [
        ("executor", "refused"),
        ("executor", "refused"),
        ("executor", "requested"),
    ]
    with db.session() as s:
        command = s.scalars(select(SchedulerCommand)).one()
        assert (command.params["mode"], command.audit_seq is not None) == ("local", True)


def test_no_audit_record_no_action(dugout, db) -> None:
    """A real audit-write fault (the table renamed away): refused, nothing queued or run."""
    with db.session() as s:
        s.execute(text("ALTER TABLE audit_records RENAME TO audit_records_away"))
    try:
        for args in (("jobs", "pause", "grading"), ("jobs", "run", "grading"),
                     ("kill-switch", "engage")):  # fmt: skip
            code, out = dugout(*args, "--reason", "x")
            assert code == 1 and "audit log could not be written" in out, out
    finally:
        with db.session() as s:
            s.execute(text("ALTER TABLE audit_records_away RENAME TO audit_records"))
    assert _commands(db) == []
    with db.session() as s:
        assert s.scalars(select(PipelineRun)).all() == []
    code, out = dugout("kill-switch", "status")
    assert "lifted" in out


def test_as_an_unknown_account_is_refused(dugout) -> None:
    code, out = dugout("jobs", "pause", "grading", "--reason", "x", "--as", "ghost")
    assert code == 1 and "no active account named 'ghost'" in out


# --- against a server ------------------------------------------------------------------------


def test_remotely_the_token_decides_the_role(dugout, served, db, make_user) -> None:
    viewer, operator, admin = make_user("viewer"), make_user("operator"), make_user("admin")
    as_ = {
        name: ("--url", served, "--token", _token(db, name)) for name in (viewer, operator, admin)
    }
    code, out = dugout("jobs", "pause", "grading", "--reason", "curious", *as_[viewer])
    assert code == 1 and "pause needs the operator role." in out
    assert _audit(db, viewer) == [("pause", "denied")]
    code, out = dugout("jobs", "pause", "grading", *as_[operator])
    assert code == 1 and "Say why: a reason is required. (--reason)" in out
    code, out = dugout(
        "jobs", "pause", "grading", "--reason", "maint", "--wait", "0", *as_[operator]
    )
    assert code == 3 and "requested and audited" in out
    code, out = dugout("breaker", "reset", "collection", "--reason", "fixed", "--wait", "0",
                       *as_[operator])  # fmt: skip
    assert code == 3
    code, out = dugout("kill-switch", "engage", "--reason", "x", *as_[operator])
    assert code == 1 and "kill_switch needs the admin role." in out
    code, out = dugout("kill-switch", "engage", "--reason", "books off", "--wait", "0", *as_[admin])
    assert code == 0 and "kill switch engaged" in out
    code, out = dugout("kill-switch", "status", *as_[viewer])
    assert code == 0 and f"by {admin}: books off" in out
    code, out = dugout("jobs", "run", "grading", "--reason", "please", *as_[operator])
    assert code == 1 and "kill switch is engaged" in out
    code, out = dugout("jobs", "run", "grading", "--reason", "break glass", *as_[admin])
    assert code == 0 and "dispatched" in out
    code, out = dugout("jobs", "list", "--json", *as_[viewer])
    assert code == 0 and json.loads(out)["kill_switch"]["engaged"] is True
    assert _commands(db) == [
        ("pause", "grading", operator),
        ("breaker_reset", "collection", operator),
        ("kill_switch", None, admin),
    ]
    assert _audit(db, operator) == [
        ("pause", "refused"),
        ("pause", "requested"),
        ("breaker_reset", "requested"),
        ("kill_switch", "denied"),
        ("run_now", "denied"),
    ]


@pytest.mark.parametrize(
    ("args", "needs"),
    [
        (("jobs", "pause", "grading"), "pause needs the operator role."),
        (("jobs", "resume", "grading"), "resume needs the operator role."),
        (("jobs", "run", "grading"), "Running a pipeline needs the operator role."),
        (("breaker", "reset", "collection"), "breaker_reset needs the operator role."),
        (("kill-switch", "engage"), "kill_switch needs the admin role."),
        (("kill-switch", "lift"), "kill_switch needs the admin role."),
    ],
)
def test_remotely_a_viewer_token_is_refused_every_action_and_audited(
    dugout, served, db, make_user, args, needs
) -> None:
    viewer = make_user("viewer")
    remote = ("--url", served, "--token", _token(db, viewer))
    code, out = dugout(*args, "--reason", "curious", *remote)
    assert code == 1 and needs in out
    assert [outcome for _, outcome in _audit(db, viewer)] == ["denied"]
    assert _commands(db) == []


def test_remotely_without_a_token_or_a_server(dugout, served) -> None:
    code, out = dugout("jobs", "list", "--url", served)
    assert code == 1 and "--url needs --token" in out
    code, out = dugout("jobs", "list", "--url", served, "--token", "dgt_wrong")
    assert code == 1 and "login required" in out
    code, out = dugout("jobs", "list", "--url", "http://127.0.0.1:9", "--token", "t")
    assert code == 1 and "cannot reach http://127.0.0.1:9" in out


def test_remotely_a_leader_applies_the_command_and_its_outcome_is_audited(
    dugout, served, app, db, make_user
) -> None:
    seed_schedule(db.sessionmaker, [JobSpec("collection", "collection", 3600, "critical")])
    init_scheduler(app)
    host = app.extensions["dugout.scheduler"]
    deadline = time.monotonic() + 20
    while not host.leading():
        assert time.monotonic() < deadline, "no leader"
        time.sleep(0.05)
    operator = make_user("operator")
    remote = ("--url", served, "--token", _token(db, operator))
    code, out = dugout("jobs", "pause", "collection", "--reason", "maint", "--wait", "20", *remote)
    assert code == 0 and "pause collection: applied: paused collection" in out
    with db.session() as s:
        assert s.get(JobSchedule, "collection").enabled is False
    deadline = time.monotonic() + 20
    while _audit(db, operator) != [("pause", "requested"), ("pause", "succeeded")]:
        assert time.monotonic() < deadline, _audit(db, operator)
        time.sleep(0.05)
    admin = make_user("admin")
    as_admin = ("--url", served, "--token", _token(db, admin))
    code, out = dugout("kill-switch", "engage", "--reason", "books off", "--wait", "20", *as_admin)
    assert code == 0 and "kill switch engaged: applied" in out
    code, out = dugout("jobs", "resume", "collection", "--reason", "done", "--wait", "20", *remote)
    assert code == 0 and "it stays paused until the kill switch is lifted" in out
    code, out = dugout("kill-switch", "lift", "--reason", "all clear", "--wait", "20", *as_admin)
    assert code == 0 and "kill switch lifted: applied" in out
