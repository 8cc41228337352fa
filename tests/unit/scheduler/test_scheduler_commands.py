"""The command table: written by anyone, applied once by the leader, result on the row."""

from __future__ import annotations

import pytest
from scheduler_fakes import ScriptedExecutor
from sqlalchemy import select

from app.models import JobSchedule, SchedulerCommand
from scheduler.commands import CommandApplier, write_command
from scheduler.control import KillSwitch
from scheduler.resilience import BreakerBook
from scheduler.schedule import seed_schedule


class FakeOps:
    """Records what the applier asked the scheduler to do."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def pause(self, job_id):
        self.calls.append(("pause", job_id))
        return f"paused {job_id}"

    def resume(self, spec):
        self.calls.append(("resume", spec.job_id))
        return f"resumed {spec.job_id}"

    def reschedule(self, spec):
        self.calls.append(("reschedule", spec.job_id, spec.interval_s))
        return f"{spec.job_id} every {spec.interval_s}"

    def kill(self, engaged):
        self.calls.append(("kill", engaged))
        return f"kill {engaged}"


@pytest.fixture
def setup(sessions, clock):
    seed_schedule(sessions)
    ops, leader = FakeOps(), {"yes": True}
    executor = ScriptedExecutor(sessions, clock)
    applier = CommandApplier(
        sessions,
        ops,
        executor=executor,
        breakers=BreakerBook(sessions, threshold=1, clock=clock),
        kill_switch=KillSwitch(sessions, clock),
        is_leader=lambda: leader["yes"],
        clock=clock,
    )

    def write(command, target=None, **params):
        return write_command(
            sessions,
            command,
            target,
            actor="op",
            reason="test",
            params=params,
            kill_switch=KillSwitch(sessions, clock),
        )

    yield ops, applier, write, leader, executor
    executor.shutdown()


def _row(sessions, command_id) -> SchedulerCommand:
    with sessions() as s:
        return s.get(SchedulerCommand, command_id)


def test_pause_and_resume_change_the_table_and_the_scheduler(setup, sessions, clock) -> None:
    ops, applier, write, _, _ = setup
    first, second = write("pause", "grading"), write("resume", "grading")
    assert applier.apply_pending() == 2
    assert ops.calls == [("pause", "grading"), ("resume", "grading")]
    row = _row(sessions, first)
    assert (row.status, row.result, row.applied_at) == ("applied", "paused grading", clock())
    assert _row(sessions, second).result == "resumed grading"
    with sessions() as s:
        assert s.get(JobSchedule, "grading").enabled
    assert applier.apply_pending() == 0


def test_kill_switch_takes_effect_when_written_and_is_applied_by_the_leader(
    setup, sessions
) -> None:
    ops, applier, write, _, _ = setup
    write("kill_switch", engage=True)
    assert KillSwitch(sessions).engaged()  # before any leader looked at it
    resumed = write("resume", "collection")
    applier.apply_pending()
    assert ops.calls == [("kill", True)]
    assert "stays paused until the kill switch is lifted" in _row(sessions, resumed).result
    run = write("run_now", "grading", role="operator")
    admin_run = write("run_now", "grading", role="admin")
    applier.apply_pending()
    assert _row(sessions, run).status == "failed"
    assert "only an admin" in _row(sessions, run).result
    assert _row(sessions, admin_run).result.startswith("started run ")
    write("kill_switch", engage=False)
    applier.apply_pending()
    assert ops.calls[-1] == ("kill", False) and not KillSwitch(sessions).engaged()


def test_reschedule_breaker_reset_and_failures(setup, sessions) -> None:
    ops, applier, write, _, _ = setup
    BreakerBook(sessions, threshold=1).record_failure("grading")
    ok = write("reschedule", "collection", interval_s=30)
    bad = write("reschedule", "collection", interval_s=0)
    reset = write("breaker_reset", "grading")
    missing = write("pause", "nope")
    unknown = write("explode", "collection")
    assert applier.apply_pending() == 5
    assert ops.calls == [("reschedule", "collection", 30)]
    assert _row(sessions, ok).status == "applied"
    assert "interval_s" in _row(sessions, bad).result and _row(sessions, bad).status == "failed"
    assert _row(sessions, reset).result == "circuit breaker grading closed (was open)"
    assert _row(sessions, missing).result == "no job 'nope' in the schedule"
    assert _row(sessions, unknown).result == "unknown command 'explode'"


def test_a_non_leader_applies_nothing(setup, sessions) -> None:
    _, applier, write, leader, _ = setup
    leader["yes"] = False
    write("pause", "grading")
    assert applier.apply_pending() == 0
    with sessions() as s:
        assert s.scalars(select(SchedulerCommand.status)).all() == ["pending"]
