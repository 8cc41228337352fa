"""Break-glass controls for the UI, the API and the CLI: run now, commands, the kill switch.

One policy, whoever asks (`BreakGlass`, built for an app by `desk(app)` or for a terminal by
the CLI): the caller's role is checked, a reason is required, the kill switch is respected,
then the request is audited FIRST; if its record cannot be written the action does not happen.
Refusals are audited too (denied: the role or the kill switch; refused: the request itself).
`run_now` goes straight to the executor (or the DB queue), so it works whether or not any
scheduler is alive, and records its outcome (dispatched or failed) at once; a command's outcome
is recorded by the scheduler leader that applies it (scheduler.outcomes).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from app.accounts import CLI_ROLE, role_allows
from app.audit import (
    OUTCOME_DENIED,
    OUTCOME_FAILED,
    OUTCOME_REFUSED,
    OUTCOME_REQUESTED,
    OUTCOME_SUCCEEDED,
    AuditEntry,
    AuditLog,
    AuditWriteError,
    ReasonError,
    append_audit,
    audit_log,
    check_reason,
)
from app.db import get_db, utcnow
from app.extensions import EXECUTOR, SCHEDULER, SETTINGS
from app.models import JobSchedule, SchedulerCommand
from app.pipelines.runner import PIPELINE_NAMES
from app.requestctx import request_meta
from scheduler.alerts import KILL_SWITCH as KILL_SWITCH_ALERT
from scheduler.alerts import AlertBook
from scheduler.commands import COMMANDS, write_command
from scheduler.control import KillSwitch, KillSwitchState
from scheduler.executors import TaskExecutor, build_executor
from scheduler.queue import DbQueue
from scheduler.schedule import get_spec


class BreakGlassRefused(Exception):
    """The action was refused; `str(exc)` is a sentence for the user, `status` an HTTP code."""

    status = 400


class PermissionDenied(BreakGlassRefused):
    """The caller's role does not allow this action."""

    status = 403


class NotFound(BreakGlassRefused):
    """No such job, pipeline or breaker."""

    status = 404


class KillSwitchEngaged(BreakGlassRefused):
    """The kill switch blocks this run (only an admin may run pipelines while it is engaged)."""

    status = 409


class AuditUnavailable(BreakGlassRefused):
    """The audit record could not be written, so the action was not taken."""

    status = 503


class DispatchFailed(BreakGlassRefused):
    """The run could not be handed to the executor (Redis down); it is in the ledger as failed."""

    status = 503


@dataclass(frozen=True, slots=True)
class CommandState:
    """Where a command stands: pending, applying, applied, failed or expired, and its result."""

    id: uuid.UUID
    command: str
    target: str | None
    status: str
    result: str | None
    applied_at: datetime | None


FINAL_COMMAND_STATES = frozenset({"applied", "failed", "expired"})


def acts_as(role: str | None) -> str | None:
    """The role whose rights `role` has: the CLI's operator holds the database, so admin."""
    return "admin" if role == CLI_ROLE else role


def _capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


@dataclass
class BreakGlass:
    """The break-glass policy over one database: who may do what, audited first."""

    sessions: sessionmaker[Session]
    audit: AuditLog
    celery_configured: bool
    executor: Callable[[], TaskExecutor]
    wake: Callable[[], None] = lambda: None
    lock_dir: Path | None = None
    meta: Callable[[], dict[str, Any]] = field(default=request_meta)
    clock: Callable[[], datetime] = utcnow

    # --- audit ------------------------------------------------------------------------------

    def _audit(
        self,
        actor: str,
        role: str | None,
        action: str,
        outcome: str,
        target: str | None,
        reason: str | None,
        request_seq: int | None = None,
    ) -> int:
        """Append the audit record (its seq) or refuse the action with AuditUnavailable."""
        try:
            record = append_audit(
                self.audit,
                AuditEntry(
                    actor=actor,
                    role=role,
                    action=action,
                    outcome=outcome,
                    target=target,
                    reason=reason,
                    request_seq=request_seq,
                    **self.meta(),
                ),
            )
        except AuditWriteError as exc:
            raise AuditUnavailable(
                "The action was not taken because the audit log could not be written."
            ) from exc
        return record.seq

    def _refuse(
        self,
        error: BreakGlassRefused,
        actor: str,
        role: str | None,
        action: str,
        target: str | None,
        reason: str | None,
    ) -> BreakGlassRefused:
        """Audit a refusal (best effort: a refusal stands even if its record fails)."""
        outcome = (
            OUTCOME_DENIED
            if isinstance(error, PermissionDenied | KillSwitchEngaged)
            else (OUTCOME_REFUSED)
        )
        with contextlib.suppress(AuditUnavailable):
            self._audit(actor, role, action, outcome, target, f"{error} (reason given: {reason})")
        return error

    def _check(
        self,
        required: str,
        what: str,
        actor: str,
        role: str | None,
        action: str,
        target: str | None,
        reason: str | None,
    ) -> str:
        """Role, then reason: the reason stripped, or an audited refusal."""
        if not role_allows(acts_as(role), required):
            raise self._refuse(
                PermissionDenied(f"{what} needs the {required} role."),
                actor,
                role,
                action,
                target,
                reason,
            )
        try:
            return check_reason(reason)
        except ReasonError as exc:
            raise self._refuse(
                BreakGlassRefused(_capitalised(str(exc))), actor, role, action, target, reason
            ) from exc

    def _kill_switch_blocks(self, role: str | None) -> bool:
        return acts_as(role) != "admin" and KillSwitch(self.sessions).engaged()

    # --- run now ----------------------------------------------------------------------------

    def pipeline_of(self, name: str) -> str | None:
        """The pipeline a job runs; a pipeline name stands for itself; None when neither."""
        with self.sessions() as session:
            job = session.get(JobSchedule, name)
        if job is not None:
            return job.pipeline
        return name if name in PIPELINE_NAMES else None

    def run_now(
        self,
        pipeline: str,
        *,
        actor: str,
        role: str | None,
        reason: str | None,
        params: dict[str, Any] | None = None,
        via: str = "executor",
    ) -> uuid.UUID:
        """Run `pipeline` (or the pipeline of job `pipeline`) now: operator or admin, admin only
        under the kill switch; the run id. The outcome record says whether it was dispatched."""
        action = "run_now"
        reason = self._check(
            "operator", "Running a pipeline", actor, role, action, pipeline, reason
        )
        resolved = self.pipeline_of(pipeline)
        if resolved is None:
            raise self._refuse(
                NotFound(
                    f"Unknown job or pipeline {pipeline!r}: choose a job of the schedule or one "
                    f"of {', '.join(PIPELINE_NAMES)}."
                ),
                actor,
                role,
                action,
                pipeline,
                reason,
            )
        if self._kill_switch_blocks(role):
            raise self._refuse(
                KillSwitchEngaged("The kill switch is engaged: only an admin may run a pipeline."),
                actor,
                role,
                action,
                resolved,
                reason,
            )
        run_id = uuid.uuid4()
        target = f"{resolved}:{run_id}"
        seq = self._audit(actor, role, action, OUTCOME_REQUESTED, target, reason)
        try:
            how = self._dispatch(resolved, run_id, actor, params or {}, via)
        except DispatchFailed as exc:
            self._outcome(actor, role, action, OUTCOME_FAILED, target, str(exc), seq)
            raise
        self._outcome(actor, role, action, OUTCOME_SUCCEEDED, target, how, seq)
        return run_id

    def _dispatch(
        self, pipeline: str, run_id: uuid.UUID, actor: str, params: dict[str, Any], via: str
    ) -> str:
        """Hand the run over; a sentence saying where it went (DispatchFailed when it could not)."""
        priority = "critical" if pipeline == "collection" else "default"
        if via == "queue":
            DbQueue(self.sessions, lock_dir=self.lock_dir).enqueue(
                pipeline,
                {
                    "trigger": "manual",
                    "actor": actor,
                    "run_id": str(run_id),
                    "params": params,
                    "priority": priority,
                },
                priority=20,
            )
            return f"run {run_id} queued in the database queue"
        executor = self.executor()
        handle = executor.submit_pipeline(
            pipeline,
            trigger="manual",
            actor=actor,
            params=params,
            run_id=run_id,
            priority=priority,
        )
        if handle.done() and not handle.future.exception():
            result = handle.result()
            if result.status == "failed" and not result.summary:  # it never reached a worker
                raise DispatchFailed(
                    f"Run {run_id} could not be dispatched and is recorded as failed: "
                    f"{result.error}. An operator can switch to local execution."
                )
        return f"run {run_id} handed to the {type(executor).__name__}"

    def _outcome(
        self,
        actor: str,
        role: str | None,
        action: str,
        outcome: str,
        target: str,
        sentence: str,
        request_seq: int,
    ) -> None:
        """The outcome record (best effort: the action has happened and its request is on
        record; a missing outcome is visible as a request without one)."""
        with contextlib.suppress(AuditUnavailable):
            self._audit(actor, role, action, outcome, target, sentence, request_seq)

    # --- commands ---------------------------------------------------------------------------

    def submit_command(
        self,
        command: str,
        target: str | None = None,
        *,
        actor: str,
        role: str | None,
        reason: str | None,
        params: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        """Queue a command for the scheduler leader (pause, resume, run_now, breaker_reset,
        reschedule, executor: operator; kill_switch with params {"engage": bool}: admin);
        the command id. Its request is audited first; the leader audits its outcome."""
        params = dict(params or {})
        audit_target = _audit_target(command, target, params)
        required = COMMANDS.get(command)
        if required is None:
            raise BreakGlassRefused(
                f"Unknown command {command!r}: choose one of {', '.join(COMMANDS)}."
            )
        reason = self._check(required, command, actor, role, command, audit_target, reason)
        try:
            self._validate(command, target, params)
        except BreakGlassRefused as exc:
            raise self._refuse(exc, actor, role, command, audit_target, reason) from None
        if command == "run_now":
            if self._kill_switch_blocks(role):
                raise self._refuse(
                    KillSwitchEngaged(
                        "The kill switch is engaged: only an admin may run a pipeline."
                    ),
                    actor,
                    role,
                    command,
                    audit_target,
                    reason,
                )
            params["role"] = acts_as(role)
        seq = self._audit(actor, role, command, OUTCOME_REQUESTED, audit_target, reason)
        command_id = write_command(
            self.sessions,
            command,
            target,
            actor=actor,
            reason=reason,
            params=params,
            kill_switch=KillSwitch(self.sessions),
            audit_seq=seq,
            now=self.clock(),
        )
        if command == "kill_switch":
            _kill_switch_alert(self.sessions, bool(params.get("engage")), actor, reason)
        self.wake()
        return command_id

    def _validate(self, command: str, target: str | None, params: dict[str, Any]) -> None:
        if command == "kill_switch":
            if not isinstance(params.get("engage"), bool):
                raise BreakGlassRefused('kill_switch needs params {"engage": true or false}.')
        elif command == "executor":
            if params.get("mode") not in ("local", "celery", "configured"):
                raise BreakGlassRefused(
                    'executor needs params {"mode": "local", "celery" or "configured"}.'
                )
            if params["mode"] == "celery" and not self.celery_configured:
                raise BreakGlassRefused("Celery is not configured here (DUGOUT_EXECUTOR=local).")
        elif command == "run_now":
            if target not in PIPELINE_NAMES:
                raise NotFound(f"Unknown pipeline {target!r}.")
        elif command == "breaker_reset":
            if not target:
                raise BreakGlassRefused("Name the circuit breaker to reset.")
        elif get_spec(self.sessions, target or "") is None:
            raise NotFound(f"No job {target!r} in the schedule.")
        if command == "reschedule":
            interval = params.get("interval_s")
            if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
                raise BreakGlassRefused("reschedule needs interval_s, a whole number of seconds.")

    def preview(
        self,
        command: str,
        target: str | None,
        *,
        role: str | None,
        params: dict[str, Any] | None = None,
    ) -> str | None:
        """Why `command` (or "run_now" straight to the executor) would be refused now, by role,
        target or kill switch, or None. Pages ask for confirmation only once this passes; it
        writes nothing, and the request itself is checked (and audited) again."""
        if command == "run_now" and target is not None and self.pipeline_of(target) is None:
            return f"Unknown job or pipeline {target!r}."
        required = COMMANDS.get(command)
        if required is None:
            return f"Unknown command {command!r}."
        if not role_allows(acts_as(role), required):
            return f"{command} needs the {required} role."
        if command == "run_now":
            if self._kill_switch_blocks(role):
                return "The kill switch is engaged: only an admin may run a pipeline."
            return None
        try:
            self._validate(command, target, dict(params or {}))
        except BreakGlassRefused as exc:
            return str(exc)
        return None

    def command_state(self, command_id: uuid.UUID) -> CommandState | None:
        """The current state of a command."""
        with self.sessions() as session:
            row = session.get(SchedulerCommand, command_id)
            if row is None:
                return None
            return CommandState(
                row.id, row.command, row.target, row.status, row.result, row.applied_at
            )

    def wait_for_command(
        self, command_id: uuid.UUID, timeout_s: float = 5.0, poll_s: float = 0.1
    ) -> CommandState | None:
        """Poll until the leader has applied, failed or expired the command, or `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.command_state(command_id)
            if state is None or state.status in FINAL_COMMAND_STATES:
                return state
            if time.monotonic() >= deadline:
                return state
            time.sleep(poll_s)

    def kill_switch_state(self) -> KillSwitchState:
        """Whether the kill switch is engaged, since when, by whom and why."""
        return KillSwitch(self.sessions).state()


def _audit_target(command: str, target: str | None, params: dict[str, Any]) -> str | None:
    if command == "kill_switch":
        return "engage" if params.get("engage") else "lift"
    if command == "executor":
        return str(params.get("mode"))
    return target


def _kill_switch_alert(
    sessions: sessionmaker[Session], engaged: bool, actor: str, reason: str
) -> None:
    alerts = AlertBook(sessions)
    if engaged:
        alerts.raise_(
            KILL_SWITCH_ALERT,
            "Kill switch engaged: scheduled runs are stopped",
            f"Engaged by {actor}: {reason}",
            severity="page",
            labels={"actor": actor},
        )
    else:
        alerts.resolve(KILL_SWITCH_ALERT)


# --- the app's desk ------------------------------------------------------------------------------


def _sessions(app: Flask) -> sessionmaker[Session]:
    sessions = get_db(app).sessionmaker
    assert sessions is not None, "Database not configured"
    return sessions


def get_executor(app: Flask) -> TaskExecutor:
    """The app's executor, built on first use: DUGOUT_EXECUTOR's choice (local thread pools over
    the app's pipeline context, or Celery with local standing by for the operator's switch)."""
    executor = EXECUTOR.find(app)
    if executor is None:
        from app.services import pipeline_context

        built = build_executor(SETTINGS.of(app), _sessions(app), lambda: pipeline_context(app))
        executor = EXECUTOR.setdefault(app, built)
    return executor


def desk(app: Flask) -> BreakGlass:
    """The break-glass policy for `app`: its database, audit log, executor and scheduler host."""
    settings = SETTINGS.of(app)

    def wake() -> None:
        host = SCHEDULER.find(app)
        if host is not None:
            host.wake()

    return BreakGlass(
        sessions=_sessions(app),
        audit=audit_log(app),
        celery_configured=settings.executor == "celery",
        executor=lambda: get_executor(app),
        wake=wake,
        lock_dir=settings.var_dir if settings.is_sqlite else None,
    )


def run_now(
    app: Flask,
    pipeline: str,
    *,
    actor: str,
    role: str | None,
    reason: str,
    params: dict[str, Any] | None = None,
    via: str = "executor",
) -> uuid.UUID:
    """Run `pipeline` now through `app` (see BreakGlass.run_now); the run id."""
    return desk(app).run_now(
        pipeline, actor=actor, role=role, reason=reason, params=params, via=via
    )


def submit_command(
    app: Flask,
    command: str,
    target: str | None = None,
    *,
    actor: str,
    role: str | None,
    reason: str,
    params: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Queue a command for the scheduler leader through `app` (see BreakGlass.submit_command)."""
    return desk(app).submit_command(
        command, target, actor=actor, role=role, reason=reason, params=params
    )


def kill_switch_state(app: Flask) -> KillSwitchState:
    """Whether the kill switch is engaged, since when, by whom and why (for the banner)."""
    return KillSwitch(_sessions(app)).state()


def command_state(app: Flask, command_id: uuid.UUID) -> CommandState | None:
    """The current state of a command."""
    return desk(app).command_state(command_id)


def wait_for_command(
    app: Flask, command_id: uuid.UUID, timeout_s: float = 5.0, poll_s: float = 0.1
) -> CommandState | None:
    """Poll until the leader has applied (or failed, or expired) the command, or `timeout_s`."""
    return desk(app).wait_for_command(command_id, timeout_s, poll_s)
