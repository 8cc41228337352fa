"""Break-glass through the app (SQLite and PostgreSQL): roles, audit first, the kill switch,
commands, the queue path, and the host started by init_scheduler."""

from __future__ import annotations

import uuid

import pytest
from pg_scheduler import wait_for
from sqlalchemy import select

from app.audit import AuditWriteError
from app.models import Alert, AuditRecord, PipelineRun, QueuedJob, SchedulerCommand
from scheduler import (
    AuditUnavailable,
    BreakGlassRefused,
    KillSwitchEngaged,
    PermissionDenied,
    init_scheduler,
    kill_switch_state,
    run_now,
    scheduler_status,
    stop_scheduler,
    submit_command,
    wait_for_command,
)
from scheduler.schedule import JobSpec, seed_schedule


@pytest.fixture
def sched_app(make_app):
    app = make_app(scheduler_heartbeat_s=0.2, scheduler_lease_ttl_s=2, scheduler_command_poll_s=0.2)
    yield app
    stop_scheduler(app)


def _db(app):
    return app.extensions["dugout.db"]


def _audit(app, action):
    with _db(app).session() as s:
        return s.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        ).all()


def _run(app, run_id):
    with _db(app).session() as s:
        row = s.get(PipelineRun, run_id)
        return row if row is not None and row.status != "running" else None


def test_run_now_needs_operator_and_a_reason_and_audits_refusals(sched_app) -> None:
    with pytest.raises(PermissionDenied):
        run_now(sched_app, "collection", actor="vera", role="viewer", reason="curious")
    with pytest.raises(BreakGlassRefused, match="reason is required"):
        run_now(sched_app, "collection", actor="otto", role="operator", reason="  ")
    with pytest.raises(BreakGlassRefused, match="Unknown job or pipeline") as unknown:
        run_now(sched_app, "everything", actor="otto", role="operator", reason="x")
    assert unknown.value.status == 404
    refusals = _audit(sched_app, "run_now")
    assert [(a.actor, a.outcome) for a in refusals] == [
        ("vera", "denied"),  # the role
        ("otto", "refused"),  # the request itself: no reason, no such pipeline
        ("otto", "refused"),
    ]


def test_run_now_audits_first_then_runs_without_any_scheduler(sched_app) -> None:
    run_id = run_now(
        sched_app, "collection", actor="otto", role="operator", reason="odds look stale"
    )
    record, dispatched = _audit(sched_app, "run_now")
    assert (record.outcome, record.target, record.reason) == (
        "requested",
        f"collection:{run_id}",
        "odds look stale",
    )
    assert (dispatched.outcome, dispatched.target, dispatched.request_seq) == (
        "succeeded",
        f"collection:{run_id}",
        record.seq,
    )
    assert f"run {run_id} handed to the LocalExecutor" in dispatched.reason
    run = wait_for(lambda: _run(sched_app, run_id), 30)
    assert (run.trigger, run.actor, run.status) == ("manual", "otto", "succeeded")
    assert run.created_at >= record.at


def test_no_audit_no_action(sched_app, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise AuditWriteError("disk full")

    monkeypatch.setattr("scheduler.breakglass.append_audit", broken)
    with pytest.raises(AuditUnavailable, match="audit log could not be written"):
        run_now(sched_app, "grading", actor="otto", role="operator", reason="x")
    with pytest.raises(AuditUnavailable):
        submit_command(
            sched_app, "kill_switch", actor="ada", role="admin", reason="x", params={"engage": True}
        )
    assert "dugout.executor" not in sched_app.extensions  # nothing was even submitted
    assert not kill_switch_state(sched_app).engaged
    with _db(sched_app).session() as s:
        assert s.scalars(select(SchedulerCommand)).all() == []


def test_kill_switch_is_admin_only_blocks_operators_and_shows_who(sched_app) -> None:
    with pytest.raises(PermissionDenied):
        submit_command(
            sched_app,
            "kill_switch",
            actor="otto",
            role="operator",
            reason="x",
            params={"engage": True},
        )
    submit_command(
        sched_app,
        "kill_switch",
        actor="ada",
        role="admin",
        reason="books are off",
        params={"engage": True},
    )
    state = kill_switch_state(sched_app)
    assert (state.engaged, state.by, state.reason) == (True, "ada", "books are off")
    with pytest.raises(KillSwitchEngaged):
        run_now(sched_app, "collection", actor="otto", role="operator", reason="please")
    with pytest.raises(KillSwitchEngaged):
        submit_command(
            sched_app, "run_now", "collection", actor="otto", role="operator", reason="please"
        )
    run_id = run_now(sched_app, "grading", actor="ada", role="admin", reason="break glass")
    assert wait_for(lambda: _run(sched_app, run_id), 30).actor == "ada"
    with _db(sched_app).session() as s:
        banner = s.scalars(select(Alert).where(Alert.key == "scheduler:kill_switch")).one()
        assert banner.status == "firing" and "ada" in banner.message
    submit_command(
        sched_app,
        "kill_switch",
        actor="ada",
        role="admin",
        reason="all clear",
        params={"engage": False},
    )
    assert not kill_switch_state(sched_app).engaged
    assert [(a.target, a.outcome) for a in _audit(sched_app, "kill_switch")] == [
        ("engage", "denied"),
        ("engage", "requested"),
        ("lift", "requested"),
    ]


def test_commands_are_validated_before_they_are_queued(sched_app) -> None:
    seed_schedule(_db(sched_app).sessionmaker)
    kw = {"actor": "otto", "role": "operator", "reason": "x"}
    with pytest.raises(BreakGlassRefused, match="Unknown command"):
        submit_command(sched_app, "explode", "collection", **kw)
    with pytest.raises(BreakGlassRefused, match="No job 'nope'"):
        submit_command(sched_app, "pause", "nope", **kw)
    with pytest.raises(BreakGlassRefused, match="whole number"):
        submit_command(sched_app, "reschedule", "collection", params={"interval_s": 0.5}, **kw)
    command_id = submit_command(
        sched_app, "reschedule", "collection", params={"interval_s": 30}, **kw
    )
    state = wait_for_command(sched_app, command_id, timeout_s=0.1)
    assert state is not None and state.status == "pending"  # no scheduler in this app yet


def test_run_now_through_the_queue(sched_app) -> None:
    run_id = run_now(sched_app, "grading", actor="otto", role="operator", reason="x", via="queue")
    with _db(sched_app).session() as s:
        job = s.scalars(select(QueuedJob)).one()
        assert job.params["run_id"] == str(run_id) and job.status == "queued"


def test_init_scheduler_leads_applies_commands_and_reports_status(sched_app) -> None:
    seed_schedule(_db(sched_app).sessionmaker, [JobSpec("collection", "collection", 1, "critical")])
    init_scheduler(sched_app)
    init_scheduler(sched_app)  # idempotent
    host = sched_app.extensions["dugout.scheduler"]
    wait_for(host.leading, 10)

    def scheduled_run():
        with _db(sched_app).session() as s:
            return s.scalars(select(PipelineRun).where(PipelineRun.trigger == "schedule")).first()

    wait_for(scheduled_run, 10)
    command_id = submit_command(
        sched_app, "pause", "collection", actor="otto", role="operator", reason="maintenance"
    )
    state = wait_for_command(sched_app, command_id, timeout_s=5)
    assert state.status == "applied" and state.result == "paused collection"
    request, done = wait_for(lambda: (r := _audit(sched_app, "pause")) and len(r) == 2 and r, 10)
    assert (request.outcome, request.target, request.request_seq) == (
        "requested",
        "collection",
        None,
    )
    assert (done.outcome, done.actor, done.role, done.target, done.request_seq) == (
        "succeeded",
        "otto",
        "operator",
        "collection",
        request.seq,
    )
    assert done.reason == f"applied by scheduler leader {host.identity}: paused collection"
    with _db(sched_app).session() as s:
        assert sched_app.extensions["dugout.audit"].verify(s).ok  # the chain holds the links
    status = scheduler_status(sched_app)
    assert status["leader"]["alive"] and status["leader"]["holder"] == host.identity
    assert status["this_host"]["mode"] == "scheduler"
    (job,) = status["jobs"]
    assert {k: job[k] for k in ("job_id", "pipeline", "interval_s", "priority", "enabled")} == {
        "job_id": "collection",
        "pipeline": "collection",
        "interval_s": 1,
        "priority": "critical",
        "enabled": False,
    }
    assert job["next_run_at"] is None and job["breaker"] == "closed"  # paused: no next run
    assert status["kill_switch"]["engaged"] is False
    assert uuid.UUID(str(command_id))
