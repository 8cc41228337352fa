"""Break-glass over the JSON API (SQLite and PostgreSQL), by API token: each action as viewer
(refused, audited), operator and admin, with and without a reason, under the kill switch, with
the audit log down; and a real scheduler leader applying what the API asked for."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from app.accounts import issue_api_token
from app.audit import AuditWriteError
from app.models import AuditRecord, PipelineRun, SchedulerCommand
from scheduler import init_scheduler, stop_scheduler
from scheduler.schedule import JobSpec, seed_schedule

ACTIONS = [  # (method path, body without reason, role needed)
    ("/api/jobs/grading/pause", {}, "operator"),
    ("/api/jobs/grading/resume", {}, "operator"),
    ("/api/jobs/grading/run", {}, "operator"),
    ("/api/breakers/collection/reset", {}, "operator"),
    ("/api/kill-switch", {"action": "engage"}, "admin"),
    ("/api/kill-switch", {"action": "lift"}, "admin"),
]


@pytest.fixture
def app(make_app):
    application = make_app(scheduler_heartbeat_s=0.2, scheduler_lease_ttl_s=2)
    seed_schedule(application.extensions["dugout.db"].sessionmaker)
    yield application
    stop_scheduler(application)  # joins the executor's threads of any run


class Api:
    """An API client holding one user's token (no session cookie, so no CSRF header)."""

    def __init__(self, app, username: str, token: str) -> None:
        self.http = app.test_client()
        self.username = username
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        if body is None:
            return self.http.post(path, headers=self.headers, **kwargs)
        return self.http.post(path, json=body, headers=self.headers, **kwargs)

    def get(self, path: str) -> Any:
        return self.http.get(path, headers=self.headers)


@pytest.fixture
def api(app, make_user, db):
    def factory(role: str) -> Api:
        name = make_user(role)
        with db.session() as s:
            token = issue_api_token(s, name)
        return Api(app, name, token)

    return factory


def _audit(db, actor: str) -> list[AuditRecord]:
    with db.session() as s:
        return list(
            s.scalars(
                select(AuditRecord).where(AuditRecord.actor == actor).order_by(AuditRecord.seq)
            ).all()
        )


def _commands(db) -> list[SchedulerCommand]:
    with db.session() as s:
        return list(s.scalars(select(SchedulerCommand).order_by(SchedulerCommand.created_at)))


@pytest.mark.parametrize(("path", "body", "needs"), ACTIONS)
def test_a_viewer_is_refused_every_action_and_the_refusal_is_audited(
    api, db, path, body, needs
) -> None:
    viewer = api("viewer")
    r = viewer.post(path, {**body, "reason": "just looking"})
    assert r.status_code == 403, r.data
    assert f"needs the {needs} role" in r.json["error"]
    (record,) = _audit(db, viewer.username)
    assert (record.outcome, record.role) == ("denied", "viewer")
    assert _commands(db) == []


@pytest.mark.parametrize(("path", "body", "needs"), ACTIONS)
def test_without_a_reason_the_answer_is_400_with_a_sentence(api, db, path, body, needs) -> None:
    caller = api(needs)
    for sent in ({**body}, {**body, "reason": "   "}, {**body, "reason": 42}):
        r = caller.post(path, sent)
        assert r.status_code == 400, r.data
        assert r.json["error"] == "Say why: a reason is required."
    assert [a.outcome for a in _audit(db, caller.username)] == ["refused"] * 3
    assert _commands(db) == []


def test_an_operator_pauses_resumes_runs_and_resets(api, db) -> None:
    operator = api("operator")
    why = {"reason": "odds feed flapping"}
    r = operator.post("/api/jobs/grading/pause", why)
    assert r.status_code == 202 and r.json["status"] == "pending"  # no leader in this app
    assert "Set-Cookie" not in r.headers  # a token client is never handed a session
    assert r.json["command"] == "pause" and r.json["target"] == "grading"
    assert operator.get(f"/api/commands/{r.json['command_id']}").json["status"] == "pending"
    assert operator.post("/api/jobs/grading/resume", why).status_code == 202
    assert operator.post("/api/breakers/collection/reset", why).status_code == 202
    r = operator.post("/api/jobs/grading/run", why)
    assert r.status_code == 202 and r.json["status"] == "dispatched"
    run_id = r.json["run_id"]
    assert [(c.command, c.target, c.requested_by) for c in _commands(db)] == [
        ("pause", "grading", operator.username),
        ("resume", "grading", operator.username),
        ("breaker_reset", "collection", operator.username),
    ]
    records = [(a.action, a.outcome) for a in _audit(db, operator.username)]
    assert records == [
        ("pause", "requested"),
        ("resume", "requested"),
        ("breaker_reset", "requested"),
        ("run_now", "requested"),
        ("run_now", "succeeded"),  # dispatched
    ]
    assert operator.post("/api/kill-switch", {"action": "engage", **why}).status_code == 403
    assert operator.get("/api/jobs").json["jobs"][0]["job_id"]
    assert operator.get(f"/api/runs/{run_id}").status_code in (200, 404)  # it may not be open yet


def test_the_kill_switch_blocks_operators_runs_but_not_an_admins(api, db, app) -> None:
    admin, operator = api("admin"), api("operator")
    r = admin.post("/api/kill-switch", {"action": "engage", "reason": "books are off"})
    assert r.status_code in (200, 202) and r.json["kill_switch"]["engaged"] is True
    assert admin.get("/api/kill-switch").json["by"] == admin.username
    r = operator.post("/api/jobs/grading/run", {"reason": "please"})
    assert r.status_code == 409 and "kill switch is engaged" in r.json["error"]
    assert _audit(db, operator.username)[-1].outcome == "denied"
    r = admin.post("/api/jobs/grading/run", {"reason": "break glass"})
    assert r.status_code == 202
    r = admin.post("/api/kill-switch", {"action": "lift", "reason": "all clear"})
    assert r.json["kill_switch"]["engaged"] is False
    assert operator.post("/api/jobs/grading/run", {"reason": "now"}).status_code == 202


def test_no_audit_no_action_503(api, db, monkeypatch) -> None:
    operator = api("operator")

    def broken(*args, **kwargs):
        raise AuditWriteError("disk full")

    monkeypatch.setattr("scheduler.breakglass.append_audit", broken)
    for path in ("/api/jobs/grading/pause", "/api/jobs/grading/run"):
        r = operator.post(path, {"reason": "x"})
        assert r.status_code == 503 and "audit log could not be written" in r.json["error"]
    assert _commands(db) == []
    with db.session() as s:
        assert s.scalars(select(PipelineRun)).all() == []


def test_bad_input_is_answered_400_or_404_never_500(api) -> None:
    operator, admin = api("operator"), api("admin")
    assert operator.post("/api/jobs/nope/pause", {"reason": "x"}).status_code == 404
    assert operator.post("/api/jobs/nope/run", {"reason": "x"}).status_code == 404
    assert operator.post("/api/jobs/grading/explode", {"reason": "x"}).status_code == 404
    assert (
        operator.post("/api/jobs/grading/pause", {"reason": "x", "wait_s": -1}).status_code == 400
    )
    assert (
        operator.post("/api/jobs/grading/pause", {"reason": "x", "wait_s": "a"}).status_code == 400
    )
    r = operator.post("/api/jobs/grading/pause", data="not json", content_type="text/plain")
    assert r.status_code == 400 and "reason" in r.json["error"]
    r = admin.post("/api/kill-switch", {"action": "explode", "reason": "x"})
    assert r.status_code == 400 and r.json["error"] == 'action must be "engage" or "lift"'
    assert operator.get("/api/commands/xyz").status_code == 400
    missing = "/api/commands/00000000-0000-0000-0000-000000000000"
    assert operator.get(missing).status_code == 404


def test_a_session_without_its_csrf_header_is_refused(login_as) -> None:
    operator = login_as("operator")
    r = operator.http.post("/api/jobs/grading/pause", json={"reason": "x"})
    assert r.status_code == 400  # cookie sessions need the CSRF header, as callbacks do
    r = operator.post_json("/api/jobs/grading/pause", {"reason": "x"})
    assert r.status_code == 202


def test_a_leader_applies_what_the_api_asked_and_audits_the_outcome(api, app, db) -> None:
    seed_schedule(db.sessionmaker, [JobSpec("collection", "collection", 3600, "critical")])
    init_scheduler(app)
    host = app.extensions["dugout.scheduler"]
    deadline = time.monotonic() + 20
    while not host.leading():
        assert time.monotonic() < deadline, "no leader"
        time.sleep(0.05)
    operator = api("operator")
    r = operator.post("/api/jobs/collection/pause", {"reason": "maintenance", "wait_s": 20})
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["result"]) == ("applied", "paused collection")
    deadline = time.monotonic() + 20
    while len(_audit(db, operator.username)) < 2:
        assert time.monotonic() < deadline, "no outcome record"
        time.sleep(0.05)
    request, outcome = _audit(db, operator.username)
    assert (outcome.outcome, outcome.request_seq) == ("succeeded", request.seq)
    jobs = {j["job_id"]: j for j in operator.get("/api/jobs").json["jobs"]}
    assert jobs["collection"]["enabled"] is False


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/api/jobs/grading/pause", "operator", 202),  # holding jobs is still allowed
        ("/api/jobs/grading/resume", "operator", 202),  # enabled; paused until the switch lifts
        ("/api/breakers/collection/reset", "operator", 202),
        ("/api/jobs/grading/run", "operator", 409),  # only an admin may run by hand
        ("/api/jobs/grading/run", "admin", 202),
        ("/api/kill-switch", "admin", 200),  # lifting it (nothing to wait for without a leader)
    ],
)
def test_each_action_under_the_kill_switch(api, db, app, path, role, status) -> None:
    engager = api("admin")
    r = engager.post("/api/kill-switch", {"action": "engage", "reason": "books are off"})
    assert r.json["kill_switch"]["engaged"] is True
    caller = api(role)
    body = {"reason": "on call", **({"action": "lift"} if path == "/api/kill-switch" else {})}
    r = caller.post(path, body)
    assert r.status_code in ((200, 202) if status == 200 else (status,)), r.json
    expected = "denied" if status == 409 else "requested"
    assert _audit(db, caller.username)[0].outcome == expected
    if path == "/api/kill-switch":
        assert r.json["kill_switch"]["engaged"] is False
