"""Break-glass controls for the UI, the API and the CLI: run now, commands, the kill switch.

Every action is checked against the caller's role, then audited FIRST; if the audit record
cannot be written the action does not happen. Refusals are audited too. `run_now` goes straight
to the executor (or the DB queue), so it works whether or not any scheduler is alive.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from app.accounts import role_allows
from app.audit import AuditEntry, AuditWriteError, append_audit, audit_log
from app.db import get_db
from app.models import SchedulerCommand
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
    """Where a command stands: pending, applying, applied or failed, and its result."""

    id: uuid.UUID
    command: str
    target: str | None
    status: str
    result: str | None
    applied_at: datetime | None


def _sessions(app: Flask) -> sessionmaker[Session]:
    sessions = get_db(app).sessionmaker
    assert sessions is not None, "Database not configured"
    return sessions


def get_executor(app: Flask) -> TaskExecutor:
    """The app's executor, built on first use: DUGOUT_EXECUTOR's choice (local thread pools over
    the app's pipeline context, or Celery with local standing by for the operator's switch)."""
    executor = app.extensions.get("dugout.executor")
    if executor is None:
        from app.services import pipeline_context

        settings = app.extensions["dugout.settings"]
        built = build_executor(settings, _sessions(app), lambda: pipeline_context(app))
        executor = app.extensions.setdefault("dugout.executor", built)
    return executor  # type: ignore[no-any-return]


def _audit(
    app: Flask,
    actor: str,
    role: str | None,
    action: str,
    outcome: str,
    target: str | None,
    reason: str | None,
) -> None:
    """Append the audit record or refuse the action with AuditUnavailable."""
    try:
        append_audit(
            audit_log(app),
            AuditEntry(
                actor=actor,
                role=role,
                action=action,
                outcome=outcome,
                target=target,
                reason=reason,
                **request_meta(),
            ),
        )
    except AuditWriteError as exc:
        raise AuditUnavailable(
            "The action was not taken because the audit log could not be written."
        ) from exc


def _refuse(
    app: Flask,
    error: BreakGlassRefused,
    actor: str,
    role: str | None,
    action: str,
    target: str | None,
    reason: str | None,
) -> BreakGlassRefused:
    """Audit a refusal (best effort: a refusal stands even if its record fails)."""
    with contextlib.suppress(AuditUnavailable):
        _audit(app, actor, role, action, "denied", target, f"{error} (reason given: {reason})")
    return error


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
    """Run `pipeline` now (operator or admin; admin only under the kill switch); the run id."""
    target = pipeline
    if not role_allows(role, "operator"):
        raise _refuse(
            app,
            PermissionDenied("Running a pipeline needs the operator role."),
            actor,
            role,
            "run_now",
            target,
            reason,
        )
    if pipeline not in PIPELINE_NAMES:
        raise BreakGlassRefused(
            f"Unknown pipeline {pipeline!r}: choose one of {', '.join(PIPELINE_NAMES)}."
        )
    if not reason or not reason.strip():
        raise _refuse(
            app,
            BreakGlassRefused("Say why: a reason is required."),
            actor,
            role,
            "run_now",
            target,
            reason,
        )
    if role != "admin" and KillSwitch(_sessions(app)).engaged():
        raise _refuse(
            app,
            KillSwitchEngaged("The kill switch is engaged: only an admin may run a pipeline."),
            actor,
            role,
            "run_now",
            target,
            reason,
        )
    run_id = uuid.uuid4()
    _audit(app, actor, role, "run_now", "requested", f"{pipeline}:{run_id}", reason)
    priority = "critical" if pipeline == "collection" else "default"
    if via == "queue":
        DbQueue(_sessions(app), lock_dir=_lock_dir(app)).enqueue(
            pipeline,
            {
                "trigger": "manual",
                "actor": actor,
                "run_id": str(run_id),
                "params": params or {},
                "priority": priority,
            },
            priority=20,
        )
    else:
        handle = get_executor(app).submit_pipeline(
            pipeline,
            trigger="manual",
            actor=actor,
            params=params or {},
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
    return run_id


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
    """Queue a command for the scheduler leader (pause, resume, run_now, breaker_reset,
    reschedule: operator; kill_switch with params {"engage": bool}: admin); the command id."""
    params = dict(params or {})
    audit_target = _audit_target(command, target, params)
    required = COMMANDS.get(command)
    if required is None:
        raise BreakGlassRefused(
            f"Unknown command {command!r}: choose one of {', '.join(COMMANDS)}."
        )
    if not role_allows(role, required):
        raise _refuse(
            app,
            PermissionDenied(f"{command} needs the {required} role."),
            actor,
            role,
            command,
            audit_target,
            reason,
        )
    if not reason or not reason.strip():
        raise _refuse(
            app,
            BreakGlassRefused("Say why: a reason is required."),
            actor,
            role,
            command,
            audit_target,
            reason,
        )
    _validate(app, command, target, params)
    if command == "run_now":
        if role != "admin" and KillSwitch(_sessions(app)).engaged():
            raise _refuse(
                app,
                KillSwitchEngaged("The kill switch is engaged: only an admin may run a pipeline."),
                actor,
                role,
                command,
                audit_target,
                reason,
            )
        params["role"] = role
    _audit(app, actor, role, command, "requested", audit_target, reason)
    sessions = _sessions(app)
    command_id = write_command(
        sessions,
        command,
        target,
        actor=actor,
        reason=reason,
        params=params,
        kill_switch=KillSwitch(sessions),
    )
    if command == "kill_switch":
        _kill_switch_alert(sessions, bool(params.get("engage")), actor, reason)
    host = app.extensions.get("dugout.scheduler")
    if host is not None:
        host.wake()
    return command_id


def _audit_target(command: str, target: str | None, params: dict[str, Any]) -> str | None:
    if command == "kill_switch":
        return "engage" if params.get("engage") else "lift"
    if command == "executor":
        return str(params.get("mode"))
    return target


def _validate(app: Flask, command: str, target: str | None, params: dict[str, Any]) -> None:
    if command == "kill_switch":
        if not isinstance(params.get("engage"), bool):
            raise BreakGlassRefused('kill_switch needs params {"engage": true or false}.')
    elif command == "executor":
        if params.get("mode") not in ("local", "celery", "configured"):
            raise BreakGlassRefused(
                'executor needs params {"mode": "local", "celery" or "configured"}.'
            )
        if params["mode"] == "celery" and app.extensions["dugout.settings"].executor != "celery":
            raise BreakGlassRefused("Celery is not configured here (DUGOUT_EXECUTOR=local).")
    elif command == "run_now":
        if target not in PIPELINE_NAMES:
            raise BreakGlassRefused(f"Unknown pipeline {target!r}.")
    elif command == "breaker_reset":
        if not target:
            raise BreakGlassRefused("Name the circuit breaker to reset.")
    elif get_spec(_sessions(app), target or "") is None:
        raise BreakGlassRefused(f"No job {target!r} in the schedule.")
    if command == "reschedule":
        interval = params.get("interval_s")
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise BreakGlassRefused("reschedule needs interval_s, a whole number of seconds.")


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


def _lock_dir(app: Flask) -> Any:
    settings = app.extensions["dugout.settings"]
    return None if not settings.is_sqlite else settings.var_dir


def kill_switch_state(app: Flask) -> KillSwitchState:
    """Whether the kill switch is engaged, since when, by whom and why (for the banner)."""
    return KillSwitch(_sessions(app)).state()


def command_state(app: Flask, command_id: uuid.UUID) -> CommandState | None:
    """The current state of a command."""
    with _sessions(app)() as session:
        row = session.get(SchedulerCommand, command_id)
        if row is None:
            return None
        return CommandState(row.id, row.command, row.target, row.status, row.result, row.applied_at)


def wait_for_command(
    app: Flask, command_id: uuid.UUID, timeout_s: float = 5.0, poll_s: float = 0.1
) -> CommandState | None:
    """Poll until the leader has applied (or failed) the command, or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = command_state(app, command_id)
        if state is None or state.status in {"applied", "failed"}:
            return state
        if time.monotonic() >= deadline:
            return state
        time.sleep(poll_s)
