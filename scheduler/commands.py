"""The command channel: any worker writes a SchedulerCommand row; the leader applies it.

Writing notifies channel `dugout_scheduler` in the same transaction (PostgreSQL delivers it on
commit), which wakes the leader at once; the leader also polls every second, so a command is
applied within the 2 s promise even when a notification is lost. The result goes on the row.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import psycopg
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import JobSchedule, SchedulerCommand
from app.pipelines.ledger import Interruption, interrupt_runs, retry_run_id
from scheduler.alerts import AlertBook
from scheduler.control import KillSwitch
from scheduler.dispatch import DispatchOrder
from scheduler.executors import ExecutorSwitch, RunRequest, TaskExecutor
from scheduler.outcomes import CommandOutcomes, expires, expiry_result
from scheduler.resilience import BreakerBook
from scheduler.schedule import JobSpec, get_spec, load_schedule

log = logging.getLogger("dugout.scheduler.commands")
CHANNEL = "dugout_scheduler"
# The role each command needs.
COMMANDS: dict[str, str] = {
    "pause": "operator",
    "resume": "operator",
    "run_now": "operator",
    "breaker_reset": "operator",
    "reschedule": "operator",
    "kill_switch": "admin",
    "executor": "operator",  # params {"mode": "local" | "celery" | "configured"}
}


class CommandFailed(Exception):
    """The command could not be applied; the message goes on the command row."""


class SchedulerOps(Protocol):
    """What the leader's scheduler can do for a command (the Supervisor implements it)."""

    def pause(self, job_id: str) -> str:
        """Stop firing `job_id`."""

    def resume(self, spec: JobSpec) -> str:
        """Fire `spec` again."""

    def reschedule(self, spec: JobSpec) -> str:
        """Fire `spec` on its new interval."""

    def kill(self, engaged: bool) -> str:
        """Pause every job, or resume the enabled ones."""


def write_command(
    sessions: sessionmaker[Session],
    command: str,
    target: str | None,
    *,
    actor: str,
    reason: str,
    params: dict[str, Any],
    kill_switch: KillSwitch,
    audit_seq: int | None = None,
    now: datetime | None = None,
) -> uuid.UUID:
    """Insert the command (the kill switch flips in the same transaction) and notify;
    `audit_seq` is its request's audit record, which its outcome record will name."""
    row = SchedulerCommand(
        id=uuid.uuid4(),
        command=command,
        target=target,
        params=params,
        requested_by=actor[:64],
        reason=reason,
        status="pending",
        created_at=now or utcnow(),
        audit_seq=audit_seq,
    )
    with sessions.begin() as session:
        session.add(row)
        if command == "kill_switch":
            kill_switch.set(session, bool(params.get("engage")))
        if command == "executor":  # takes effect in every process at once, leader or not
            mode = params.get("mode")
            ExecutorSwitch(sessions).set(session, None if mode == "configured" else mode)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": str(row.id)})
    return row.id


class CommandApplier:
    """Applies pending commands in order and records each result (leader only)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ops: SchedulerOps,
        *,
        executor: TaskExecutor,
        breakers: BreakerBook,
        kill_switch: KillSwitch,
        is_leader: Callable[[], bool],
        clock: Callable[[], datetime] = utcnow,
        later: Callable[[DispatchOrder, datetime], object] | None = None,
        outcomes: CommandOutcomes | None = None,
    ) -> None:
        self.outcomes = outcomes  # audit records of what became of each audited command
        self.later = later  # retries of scheduled ticks go back through the dispatcher
        self.sessions = sessions
        self.ops = ops
        self.executor = executor
        self.breakers = breakers
        self.kill_switch = kill_switch
        self.is_leader = is_leader
        self.clock = clock

    def apply_pending(self, limit: int = 50) -> int:
        """Apply up to `limit` pending commands, oldest first; returns how many."""
        applied = 0
        if self.outcomes is not None:
            self.outcomes.retry()
        while applied < limit and self.is_leader():
            row = self._claim_next()
            if row is None:
                break
            try:
                if self.outcomes is not None and expires(row, self.clock(), self.outcomes.ttl_s):
                    result, status = (
                        expiry_result(row, self.clock(), self.outcomes.ttl_s),
                        "expired",
                    )
                else:
                    result, status = self._apply(row), "applied"
            except CommandFailed as exc:
                result, status = str(exc), "failed"
            except Exception as exc:
                log.exception("command failed", extra={"command": row.command})
                result, status = f"{type(exc).__name__}: {exc}", "failed"
            with self.sessions.begin() as session:
                session.execute(
                    update(SchedulerCommand)
                    .where(SchedulerCommand.id == row.id)
                    .values(status=status, result=result, applied_at=self.clock())
                )
            if self.outcomes is not None:
                self.outcomes.record(row.id)
            log.info(
                "command applied",
                extra={
                    "command": row.command,
                    "target": row.target,
                    "status": status,
                    "result": result,
                },
            )
            applied += 1
        return applied

    def _claim_next(self) -> SchedulerCommand | None:
        """The oldest pending command, marked `applying` so it is applied once."""
        while True:
            with self.sessions() as session:
                row = session.scalars(
                    select(SchedulerCommand)
                    .where(SchedulerCommand.status == "pending")
                    .order_by(SchedulerCommand.created_at)
                    .limit(1)
                ).first()
            if row is None:
                return None
            with self.sessions.begin() as session:
                claimed = session.execute(
                    update(SchedulerCommand)
                    .where(SchedulerCommand.id == row.id, SchedulerCommand.status == "pending")
                    .values(status="applying")
                )
            if getattr(claimed, "rowcount", 0) == 1:
                return row

    def _apply(self, row: SchedulerCommand) -> str:
        handler = getattr(self, f"_cmd_{row.command}", None)
        if handler is None:
            raise CommandFailed(f"unknown command {row.command!r}")
        return str(handler(row))

    def _spec_for(self, pipeline: str) -> JobSpec | None:
        specs = load_schedule(self.sessions)
        return specs.get(pipeline) or next(
            (s for s in specs.values() if s.pipeline == pipeline), None
        )

    def _job(self, job_id: str | None) -> JobSpec:
        spec = get_spec(self.sessions, job_id or "")
        if spec is None:
            raise CommandFailed(f"no job {job_id!r} in the schedule")
        return spec

    def _set_schedule(self, job_id: str, **values: Any) -> JobSpec:
        with self.sessions.begin() as session:
            row = session.get(JobSchedule, job_id)
            if row is None:
                raise CommandFailed(f"no job {job_id!r} in the schedule")
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = self.clock()
        return self._job(job_id)

    def _cmd_pause(self, row: SchedulerCommand) -> str:
        spec = self._set_schedule(self._job(row.target).job_id, enabled=False)
        return self.ops.pause(spec.job_id)

    def _cmd_resume(self, row: SchedulerCommand) -> str:
        spec = self._set_schedule(self._job(row.target).job_id, enabled=True)
        if self.kill_switch.engaged():
            return f"{spec.job_id} enabled; it stays paused until the kill switch is lifted"
        return self.ops.resume(spec)

    def _cmd_reschedule(self, row: SchedulerCommand) -> str:
        interval = row.params.get("interval_s")
        if not isinstance(interval, int) or interval < 1:
            raise CommandFailed("reschedule needs params.interval_s, a whole number >= 1")
        spec = self._set_schedule(self._job(row.target).job_id, interval_s=interval)
        if not spec.enabled or self.kill_switch.engaged():
            return f"{spec.job_id} now every {interval} s (paused)"
        return self.ops.reschedule(spec)

    def _cmd_breaker_reset(self, row: SchedulerCommand) -> str:
        before = self.breakers.reset(row.target or "")
        return f"circuit breaker {row.target} closed (was {before})"

    def _cmd_kill_switch(self, row: SchedulerCommand) -> str:
        return self.ops.kill(self.kill_switch.engaged())

    def _cmd_executor(self, row: SchedulerCommand) -> str:
        mode = row.params.get("mode")
        if mode == "local":
            from scheduler.executors.celery.executor import BROKER_ALERT, WORKER_ALERT

            alerts = AlertBook(self.sessions, self.clock)
            for key in (BROKER_ALERT, WORKER_ALERT):  # the operator has acted
                alerts.resolve(key)
            return "runs now execute locally in each server process (operator switch)"
        return f"runs now execute on the {mode} executor"

    def _cmd_run_now(self, row: SchedulerCommand) -> str:
        if self.kill_switch.engaged() and row.params.get("role") != "admin":
            raise CommandFailed("kill switch engaged: only an admin may run a pipeline")
        requeue_of = row.params.get("requeue_of")
        if requeue_of:
            return self._requeue(row, uuid.UUID(requeue_of))
        handle = self.executor.submit_pipeline(
            row.target or "",
            trigger="manual",
            actor=row.requested_by,
            params={**dict(row.params.get("params") or {}), "reason": row.reason},
            priority="critical" if row.target == "collection" else "default",
        )
        return f"started run {handle.run_id}"

    def _requeue(self, row: SchedulerCommand, run_id: uuid.UUID) -> str:
        """Run again an interrupted run as attempt n+1 with the parent link, unless it ended
        after all, another attempt retries it already, or a newer tick of its job succeeded.
        A scheduled tick goes back through the dispatcher (guards, retries, the chain after it)."""
        from app.models import PipelineRun
        from scheduler.ticks import superseded, tick_of

        with self.sessions() as session:
            old = session.get(PipelineRun, run_id)
            status = old.status if old is not None else "never started"
            attempt = old.attempt if old is not None else 1
            retried = session.scalar(
                select(PipelineRun.id).where(PipelineRun.parent_run_id == run_id).limit(1)
            )
            tick = tick_of(session, old) if old is not None else None
            if tick is not None and superseded(session, old.pipeline, tick):  # type: ignore[union-attr]
                return f"run {run_id} is superseded: a newer tick of its job succeeded"
        if status not in ("interrupted", "never started"):
            return f"run {run_id} ended {status} after all; not run again"
        if retried is not None:
            return f"run {run_id} is retried already by run {retried}"
        spec = self._spec_for(row.target or "")
        if tick is not None and spec is not None and self.later is not None:
            order = DispatchOrder(
                spec.job_id,
                spec.pipeline,
                tick,
                trigger="retry",
                attempt=attempt + 1,
                parent_run_id=str(run_id),
                priority=spec.priority,
            )
            self.later(order, self.clock())
            return f"re-queued interrupted run {run_id} as attempt {attempt + 1} of tick {tick}"
        handle = self.executor.submit_pipeline(
            row.target or "",
            trigger="retry",
            actor=row.requested_by,
            params=dict(row.params.get("params") or {}),
            attempt=attempt + 1,
            run_id=retry_run_id(run_id, attempt + 1),
            parent_run_id=run_id if old is not None else None,
            priority=str(row.params.get("priority") or "default"),
        )
        return f"re-queued interrupted run {run_id} as run {handle.run_id}"


class CommandListener:
    """LISTEN on a dedicated connection and wake the leader on each notification."""

    def __init__(self, dsn: str, wake: Callable[[], None]) -> None:
        self.dsn = dsn
        self.wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen in a daemon thread until `stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dugout-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (returns within about a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self.wake()
            except psycopg.Error as exc:
                log.warning("command listener reconnecting: %s", exc)
                self._stop.wait(2.0)


def requeue_interrupted(
    sessions: sessionmaker[Session], requests: list[RunRequest], *, actor: str, reason: str
) -> list[uuid.UUID]:
    """Record runs a stopping process could not finish as interrupted and re-queue each as a
    run_now command, which the scheduler leader applies (after this process has let go)."""
    ids = []
    interrupt_runs(
        sessions,
        Interruption("ShutdownInterrupted", reason),
        utcnow(),
        ids=[r.run_id for r in requests],
    )
    for request in requests:
        ids.append(
            write_command(
                sessions,
                "run_now",
                request.pipeline,
                actor=actor,
                reason=f"re-queue run {request.run_id}: {reason}",
                params={
                    "requeue_of": str(request.run_id),
                    "params": dict(request.params),
                    "priority": request.priority,
                    "role": "system",
                },
                kill_switch=KillSwitch(sessions),
            )
        )
        log.warning(
            "interrupted run re-queued", extra={"run_id": str(request.run_id), "why": reason}
        )
    return ids
