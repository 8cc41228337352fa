"""Every audited command gets its outcome record, linked to its request: applied, failed with
the error, or expired unapplied; the chain stays intact and the outcome is written once."""

from __future__ import annotations

import pytest
from scheduler_fakes import ScriptedExecutor
from sqlalchemy import delete, select
from test_scheduler_commands import FakeOps

from app.audit import AuditWriteError, build_audit_log
from app.models import AuditRecord, JobSchedule, SchedulerCommand
from scheduler.breakglass import BreakGlass
from scheduler.commands import CommandApplier
from scheduler.control import KillSwitch
from scheduler.outcomes import CommandOutcomes
from scheduler.resilience import BreakerBook
from scheduler.schedule import seed_schedule

TTL_S = 60.0


@pytest.fixture
def audit(sessions, var_dir):
    return build_audit_log(
        sessions, secret_key="test-secret", checkpoint_path=var_dir / "checkpoints.jsonl"
    )


@pytest.fixture
def parts(sessions, clock, audit):
    """A desk that asks, and a leader's applier that writes outcomes."""
    seed_schedule(sessions)
    executor = ScriptedExecutor(sessions, clock)
    leader = {"yes": True}
    outcomes = CommandOutcomes(
        sessions, audit, ttl_s=TTL_S, applied_by="scheduler leader test", clock=clock
    )
    applier = CommandApplier(
        sessions,
        FakeOps(),
        executor=executor,
        breakers=BreakerBook(sessions, threshold=1, clock=clock),
        kill_switch=KillSwitch(sessions, clock),
        is_leader=lambda: leader["yes"],
        clock=clock,
        outcomes=outcomes,
    )
    desk = BreakGlass(
        sessions=sessions,
        audit=audit,
        celery_configured=False,
        executor=lambda: executor,
        meta=lambda: {"source_ip": "10.0.0.7"},
        clock=clock,
    )
    yield desk, applier, outcomes, leader
    executor.shutdown()


def _records(sessions) -> list[AuditRecord]:
    with sessions() as s:
        return list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all())


def _ask(desk, command="pause", target="grading", role="operator", **params):
    return desk.submit_command(
        command, target, actor="otto", role=role, reason="maintenance", params=params
    )


def test_an_applied_command_gets_a_succeeded_record_naming_its_request(
    parts, sessions, audit
) -> None:
    desk, applier, _, _ = parts
    command_id = _ask(desk)
    assert applier.apply_pending() == 1
    request, outcome = _records(sessions)
    assert (request.action, request.outcome, request.request_seq) == ("pause", "requested", None)
    assert (outcome.action, outcome.outcome, outcome.actor, outcome.role) == (
        "pause",
        "succeeded",
        "otto",
        "operator",
    )
    assert (outcome.target, outcome.request_seq, outcome.source_ip) == (
        "grading",
        request.seq,
        "10.0.0.7",
    )
    assert outcome.reason == "applied by scheduler leader test: paused grading"
    with sessions() as s:
        row = s.get(SchedulerCommand, command_id)
        assert (row.audit_seq, row.outcome_seq) == (request.seq, outcome.seq)
        assert audit.verify(s).ok


def test_a_failed_command_records_the_error(parts, sessions) -> None:
    desk, applier, _, _ = parts
    _ask(desk, "pause", "grading")
    with sessions.begin() as s:  # the job goes away before the leader gets to it
        s.execute(delete(JobSchedule).where(JobSchedule.job_id == "grading"))
    applier.apply_pending()
    outcome = _records(sessions)[-1]
    assert outcome.outcome == "failed"
    assert outcome.reason == "failed by scheduler leader test: no job 'grading' in the schedule"


def test_a_command_nobody_applied_in_time_expires_unapplied(parts, sessions, clock) -> None:
    desk, applier, outcomes, leader = parts
    leader["yes"] = False  # no leader: nothing applies it
    stale, fresh = _ask(desk, "pause", "grading"), None
    kill = _ask(desk, "kill_switch", None, role="admin", engage=True)
    clock.advance(TTL_S + 1)
    fresh = _ask(desk, "resume", "grading")
    assert outcomes.expire_stale() == 1  # a follower's round
    with sessions() as s:
        assert s.get(SchedulerCommand, stale).status == "expired"
        assert s.get(SchedulerCommand, fresh).status == "pending"
        assert s.get(SchedulerCommand, kill).status == "pending"  # the switch never expires
    expired = _records(sessions)[-1]
    assert (expired.action, expired.outcome) == ("pause", "expired")
    assert expired.reason.startswith(
        "expired unapplied: no scheduler leader applied it within 60 s"
    )
    assert outcomes.expire_stale() == 0  # once
    leader["yes"] = True
    assert applier.apply_pending() == 2  # the kill switch and the fresh resume
    assert [r.outcome for r in _records(sessions) if r.request_seq] == [
        "expired",
        "succeeded",
        "succeeded",
    ]


def test_the_leader_expires_a_stale_command_instead_of_applying_it(parts, sessions, clock) -> None:
    desk, applier, _, _ = parts
    command_id = _ask(desk, "pause", "grading")
    clock.advance(TTL_S + 1)
    applier.apply_pending()
    assert applier.ops.calls == []  # a pause asked for long ago is not applied now
    with sessions() as s:
        assert s.get(SchedulerCommand, command_id).status == "expired"
        assert s.get(JobSchedule, "grading").enabled
    assert _records(sessions)[-1].outcome == "expired"


def test_an_outcome_the_audit_log_refused_is_written_on_the_next_round(
    parts, sessions, monkeypatch
) -> None:
    desk, applier, _, _ = parts
    _ask(desk)
    real = type(desk.audit).append

    def down(self, entry, *, now=None):
        raise AuditWriteError("disk full")

    monkeypatch.setattr(type(desk.audit), "append", down)
    applier.apply_pending()  # applied, but its outcome could not be written
    assert [r.outcome for r in _records(sessions)] == ["requested"]
    monkeypatch.setattr(type(desk.audit), "append", real)
    applier.apply_pending()
    applier.apply_pending()
    assert [r.outcome for r in _records(sessions)] == ["requested", "succeeded"]


def test_commands_without_a_request_record_get_no_outcome(parts, sessions) -> None:
    from scheduler.commands import write_command

    _, applier, _, _ = parts
    write_command(
        sessions,
        "pause",
        "grading",
        actor="shutdown:x",
        reason="re-queue",
        params={},
        kill_switch=KillSwitch(sessions),
    )
    assert applier.apply_pending() == 1
    assert _records(sessions) == []
