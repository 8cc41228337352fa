"""Break-glass over the JSON API: pause, resume and run jobs, reset breakers, engage or lift
the kill switch, and read where each stands. Authenticated by API token (or a session with its
CSRF header) by app.auth; the role, the reason, the kill switch and audit-first are the one
policy of scheduler.breakglass, so the API refuses (and audits) exactly what the buttons do.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user

from app.api import BadRequest
from scheduler.breakglass import BreakGlassRefused, CommandState, desk
from scheduler.status import breaker_list, kill_state, scheduler_status

bp = Blueprint("api_control", __name__, url_prefix="/api")
MAX_WAIT_S = 30.0
JOB_COMMANDS = {"pause": "pause", "resume": "resume"}


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(BreakGlassRefused)
def _refused(exc: BreakGlassRefused) -> tuple[Response, int]:
    return jsonify(error=str(exc)), exc.status


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _body() -> dict[str, Any]:
    """The JSON object sent (an empty one when the body is missing or not an object)."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _reason(body: dict[str, Any]) -> str | None:
    reason = body.get("reason")
    return reason if isinstance(reason, str) else None


def _wait_s(body: dict[str, Any]) -> float:
    """How long to wait for the scheduler leader to apply the command (0 to 30 s)."""
    raw = body.get("wait_s", 0)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise BadRequest("wait_s must be a number of seconds between 0 and 30")
    if not 0 <= raw <= MAX_WAIT_S:
        raise BadRequest("wait_s must be a number of seconds between 0 and 30")
    return float(raw)


def _who() -> dict[str, Any]:
    return {"actor": current_user.username, "role": current_user.role}


def command_json(state: CommandState) -> dict[str, Any]:
    """A command's state as the API answers it."""
    return {
        "command_id": str(state.id),
        "command": state.command,
        "target": state.target,
        "status": state.status,
        "result": state.result,
        "applied_at": state.applied_at.isoformat() if state.applied_at else None,
    }


def _answer_command(command_id: uuid.UUID, wait_s: float) -> tuple[Response, int]:
    """200 with the outcome when the leader has applied (or failed, or expired) the command
    within `wait_s`, else 202 with it pending."""
    state = desk(_app()).wait_for_command(command_id, timeout_s=wait_s)
    if state is None:  # pragma: no cover - a command row is never deleted
        return jsonify(error=f"command {command_id} disappeared"), 404
    final = state.status in {"applied", "failed", "expired"}
    return jsonify(command_json(state)), 200 if final else 202


@bp.get("/jobs")
def list_jobs() -> Response:
    """The scheduled jobs (enabled, breaker, last status, next run), the leader and the switch."""
    status = scheduler_status(_app())
    return jsonify(
        jobs=status["jobs"],
        leader=status["leader"],
        kill_switch=status["kill_switch"],
        pending_commands=status["pending_commands"],
    )


@bp.post("/jobs/<name>/<action>")
def job_action(name: str, action: str) -> tuple[Response, int]:
    """Pause, resume or run a job (or run a pipeline by name); operator, with a reason."""
    body = _body()
    if action == "run":
        run_id = desk(_app()).run_now(name, reason=_reason(body), **_who())
        return jsonify(run_id=str(run_id), status="dispatched", run=f"/api/runs/{run_id}"), 202
    if action not in JOB_COMMANDS:
        return jsonify(error=f"no action {action!r}: use pause, resume or run"), 404
    wait_s = _wait_s(body)
    command_id = desk(_app()).submit_command(
        JOB_COMMANDS[action], name, reason=_reason(body), **_who()
    )
    return _answer_command(command_id, wait_s)


@bp.get("/breakers")
def list_breakers() -> Response:
    """Every circuit breaker: each job's (closed until it trips) and every one that tripped."""
    return jsonify(items=breaker_list(scheduler_status(_app())))


@bp.post("/breakers/<name>/reset")
def reset_breaker(name: str) -> tuple[Response, int]:
    """Close a circuit breaker; operator, with a reason."""
    body = _body()
    wait_s = _wait_s(body)
    command_id = desk(_app()).submit_command("breaker_reset", name, reason=_reason(body), **_who())
    return _answer_command(command_id, wait_s)


@bp.get("/kill-switch")
def kill_switch() -> Response:
    """Whether the kill switch is engaged, since when, by whom and why."""
    return jsonify(kill_state(_app()))


@bp.post("/kill-switch")
def set_kill_switch() -> tuple[Response, int]:
    """Engage or lift the kill switch (admin, with a reason); it takes effect at once."""
    body = _body()
    action = body.get("action")
    wait_s = _wait_s(body)
    breakglass = desk(_app())
    if action not in ("engage", "lift"):
        # the one policy still decides first: a viewer is refused (and audited) as such
        try:
            breakglass.submit_command(
                "kill_switch", None, reason=_reason(body), params={"engage": None}, **_who()
            )
        except BreakGlassRefused as exc:
            if exc.status != 400 or "reason" in str(exc):
                raise
        raise BadRequest('action must be "engage" or "lift"')
    command_id = breakglass.submit_command(
        "kill_switch", None, reason=_reason(body), params={"engage": action == "engage"}, **_who()
    )
    state, status = _answer_command(command_id, wait_s)
    payload = state.get_json() | {"kill_switch": kill_state(_app())}
    return jsonify(payload), status


@bp.get("/commands/<command_id>")
def get_command(command_id: str) -> tuple[Response, int]:
    """Where a command stands: pending, applying, applied, failed or expired, and its result."""
    try:
        cid = uuid.UUID(command_id)
    except ValueError:
        raise BadRequest(f"{command_id!r} is not a command id") from None
    state = desk(_app()).command_state(cid)
    if state is None:
        return jsonify(error=f"no command {command_id}"), 404
    return jsonify(command_json(state)), 200
