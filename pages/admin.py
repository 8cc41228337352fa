"""Admin: the scheduler's jobs with run-now / pause / resume, breaker reset and the executor
switch (operator), and the kill switch (admin). Accounts and the audit log have pages of their own.

Every control asks for a reason and a confirmation, and every callback is a guarded callback
(the role is checked on the server, then the break-glass layer checks again and writes the audit
record). The layout leaves out what a role may not use; that is for clarity, not protection.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update
from flask import current_app
from flask_login import current_user

from app.accounts import role_allows
from app.audit import ReasonError, check_reason
from app.auth import guarded_callback
from app.dashboard import default_zone, page_now, refresh_ms
from app.db import get_db
from app.extensions import SETTINGS
from app.models import JobSchedule
from app.pipelines.runner import PIPELINE_NAMES
from components.controls import (
    TYPED_WORD,
    ask_to_confirm,
    breakglass_form,
    confirm_text,
    outcome,
    refused,
    typed_confirmation,
)
from components.formatting import zone
from components.status import jobs_table, scheduler_summary
from scheduler import BreakGlassRefused, run_now, submit_command, wait_for_command
from scheduler.breakglass import desk
from scheduler.status import kill_state, scheduler_status

dash.register_page(
    __name__, path="/admin", name="Admin", order=90, min_role="operator", title="Admin · Dugout"
)

JOB_ACTIONS = {"run_now": "Run now", "pause": "Pause", "resume": "Resume"}
EXECUTOR_CHOICES = {
    "local": "Local (run in the server processes)",
    "celery": "Celery (run on the workers)",
    "configured": "As configured (DUGOUT_EXECUTOR)",
}


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _command_wait_s() -> float:
    """How long an action waits for the leader to apply its command before showing 'pending'."""
    extra = SETTINGS.of().extra or {}
    return float(extra.get("command_wait_s", 3.0))


# --- layout ---------------------------------------------------------------------------------


def _operator_controls() -> list[Any]:
    jobs = breakglass_form(
        "job",
        "Run now, pause or resume",
        [
            dbc.Select(id="job-target", placeholder="Job or pipeline", size="sm", className="mb-2"),
            dbc.RadioItems(
                id="job-action",
                options=[{"label": v, "value": k} for k, v in JOB_ACTIONS.items()],
                value="run_now",
                inline=True,
                className="small",
            ),
        ],
        [("apply", "Apply…", "primary")],
        "Run now starts the pipeline at once through the configured executor; pause and resume "
        "are applied by the scheduler leader.",
    )
    breaker = breakglass_form(
        "breaker",
        "Circuit breakers",
        [dbc.Select(id="breaker-target", placeholder="Breaker (job)", size="sm")],
        [("reset", "Reset breaker…", "warning")],
        "A breaker opens after consecutive failures; resetting closes it so the job runs again.",
    )
    executor = breakglass_form(
        "executor",
        "Executor",
        [
            dbc.Select(
                id="executor-target",
                options=[{"label": v, "value": k} for k, v in EXECUTOR_CHOICES.items()],
                value="local",
                size="sm",
            )
        ],
        [("apply", "Switch executor…", "warning")],
        "When Redis or the Celery workers are down, switch to local so every server process "
        "runs pipelines itself; switch back to the configured executor when they recover.",
    )
    return [
        html.H2("Scheduler", className="h5 mt-2"),
        html.Div(id="admin-scheduler", className="mb-2"),
        html.Div(id="admin-jobs"),
        dbc.Row(
            [
                dbc.Col(jobs, md=6, lg=4, className="mt-3"),
                dbc.Col(breaker, md=6, lg=4, className="mt-3"),
                dbc.Col(executor, md=6, lg=4, className="mt-3"),
            ]
        ),
    ]


def _admin_controls() -> list[Any]:
    kill = breakglass_form(
        "kill",
        "Kill switch",
        [html.Div(id="kill-state", className="mb-2")],
        [("engage", "Engage kill switch…", "danger"), ("lift", "Lift kill switch…", "success")],
        "Engaged, it stops every scheduled run at once; only an admin may run a pipeline by hand.",
        confirm=typed_confirmation("kill", "Kill switch"),
    )
    return [
        dbc.Row([dbc.Col(kill, md=6, className="mt-3")]),
        dcc.Interval(id="kill-refresh", interval=refresh_ms()),
    ]


def layout(**_: Any) -> html.Div:
    """Operator controls for everyone here; the admin-only sections only for admins."""
    is_admin = role_allows(getattr(current_user, "role", None), "admin")
    return html.Div(
        [
            html.H1("Admin", className="h3"),
            *_operator_controls(),
            *(_admin_controls() if is_admin else []),
            dcc.Interval(id="admin-refresh", interval=refresh_ms()),
        ]
    )


# --- operator: scheduler ----------------------------------------------------------------------


@guarded_callback(
    Output("admin-scheduler", "children"),
    Output("admin-jobs", "children"),
    Output("job-target", "options"),
    Output("breaker-target", "options"),
    Input("admin-refresh", "n_intervals"),
    Input("display-tz", "value"),
    role="operator",
    action="view_admin",
)
def load_scheduler(_n: int | None, tz_name: Any = None) -> tuple[Any, ...]:
    """Leader, the job table and the choices of the two forms."""
    now = page_now()
    status = scheduler_status(_app(), now)
    jobs = status["jobs"]
    targets = [
        {
            "label": f"{j['job_id']} ({j['pipeline']}{', paused' if not j['enabled'] else ''})",
            "value": j["job_id"],
        }
        for j in jobs
    ]
    scheduled = {j["pipeline"] for j in jobs}
    targets += [  # pipelines with no job can still be run by hand
        {"label": f"{p} (pipeline)", "value": p} for p in PIPELINE_NAMES if p not in scheduled
    ]
    breakers = sorted({j["job_id"] for j in jobs} | {b["name"] for b in status["breakers"]})
    states = {b["name"]: b["state"] for b in status["breakers"]}
    breaker_options = [
        {"label": f"{name} ({states.get(name, 'closed')})", "value": name} for name in breakers
    ]
    return (
        scheduler_summary(status, now),
        jobs_table(jobs, zone(tz_name, default_zone())),
        targets,
        breaker_options,
    )


def _done(result: Any) -> tuple[Any, Any, Any]:
    """A form's answer after acting: the outcome, its reason box cleared, its intent spent (so
    neither a second press of Apply nor a replayed confirmation repeats the action)."""
    return result, "", None


def _not_done(result: Any) -> tuple[Any, Any, Any]:
    """A refusal: the outcome, the reason kept (to correct it), the intent spent."""
    return result, no_update, None


def _preview(command: str, target: str | None, params: dict[str, Any] | None = None) -> Any:
    """Why the server would refuse this now, asked before the confirmation (None: it would go)."""
    if not target:
        return None
    return desk(_app()).preview(command, target, role=current_user.role, params=params)


JOB_QUESTIONS = {
    "run_now": "Run {what} now? It starts at once through the configured executor.",
    "pause": "Pause job {what}? It stops firing until someone resumes it.",
    "resume": "Resume job {what}? It fires on its schedule again.",
}


@guarded_callback(
    Output("job-confirm", "displayed"),
    Output("job-confirm", "message"),
    Output("job-intent", "data"),
    Output("job-outcome", "children"),
    Input("job-apply", "n_clicks"),
    State("job-target", "value"),
    State("job-action", "value"),
    State("job-reason", "value"),
    role="operator",
    action="job_control",
    prevent_initial_call=True,
)
def ask_job(_n: int | None, target: str | None, action: str, reason: str | None) -> Any:
    """Check first (reason, job, kill switch), then ask in a plain sentence."""
    action = action if action in JOB_ACTIONS else "run_now"
    target = target if isinstance(target, str) else None
    what = target or ""
    if action == "run_now" and target:
        pipeline = _pipeline_of(target)
        what = pipeline if pipeline == target else f"job {target} (the {pipeline} pipeline)"
    question = JOB_QUESTIONS[action].format(what=what)
    return ask_to_confirm(action, target, reason, question, _preview(action, target))


def _bad_reason(intent: dict[str, Any]) -> Any:
    """A refusal when a (possibly forged) intent carries no acceptable reason, else None."""
    try:
        check_reason(intent.get("reason"))
    except ReasonError as exc:
        return refused(str(exc))
    return None


def _pipeline_of(target: str) -> str:
    """The pipeline a job runs (a pipeline name stands for itself)."""
    with get_db().session() as session:
        job = session.get(JobSchedule, target)
    return job.pipeline if job is not None else target


def _command_outcome(command_id: Any, what: str) -> Any:
    state = wait_for_command(_app(), command_id, timeout_s=_command_wait_s())
    if state is None:
        return refused(f"{what}: the command disappeared.")
    if state.status == "applied":
        return outcome(f"{what}: applied. {_sentence(state.result or 'done')}", "success")
    if state.status in ("failed", "expired"):
        return outcome(
            f"{what}: {state.status}. {_sentence(state.result or 'no detail')}", "danger"
        )
    return outcome(
        f"{what}: requested and recorded in the audit log. The scheduler leader applies it "
        f"within seconds of taking the lease (command {command_id}, {state.status}).",
        "warning",
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _forms(prefix: str) -> tuple[Output, Output, Output]:
    """The outputs every confirmed action sets: outcome, reason box, intent."""
    return (
        Output(f"{prefix}-outcome", "children", allow_duplicate=True),
        Output(f"{prefix}-reason", "value"),
        Output(f"{prefix}-intent", "data", allow_duplicate=True),
    )


@guarded_callback(
    *_forms("job"),
    Input("job-confirm", "submit_n_clicks"),
    State("job-intent", "data"),
    role="operator",
    action="job_control",
    prevent_initial_call=True,
)
def do_job(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Run now (straight to the executor) or write a pause / resume command."""
    if not isinstance(intent, dict):
        return no_update, no_update, no_update
    if (bad := _bad_reason(intent)) is not None:
        return _not_done(bad)
    action, target, reason = intent.get("action"), str(intent.get("target")), intent.get("reason")
    user, role = current_user.username, current_user.role
    try:
        if action == "run_now":
            pipeline = _pipeline_of(target)
            run_id = run_now(_app(), pipeline, actor=user, role=role, reason=str(reason or ""))
            return _done(
                outcome(
                    f"Started {pipeline}: run ",
                    "success",
                    dcc.Link(str(run_id), href=f"/pipelines/{run_id}", id="job-run-link"),
                )
            )
        if action not in ("pause", "resume"):
            return _not_done(refused(f"unknown action {action!r}."))
        command_id = submit_command(
            _app(), str(action), target, actor=user, role=role, reason=str(reason or "")
        )
    except BreakGlassRefused as exc:
        return _not_done(refused(str(exc)))
    return _done(_command_outcome(command_id, f"{JOB_ACTIONS[str(action)]} {target}"))


@guarded_callback(
    Output("breaker-confirm", "displayed"),
    Output("breaker-confirm", "message"),
    Output("breaker-intent", "data"),
    Output("breaker-outcome", "children"),
    Input("breaker-reset", "n_clicks"),
    State("breaker-target", "value"),
    State("breaker-reason", "value"),
    role="operator",
    action="breaker_reset",
    prevent_initial_call=True,
)
def ask_breaker(_n: int | None, target: str | None, reason: str | None) -> Any:
    """Check first, then ask before resetting a breaker."""
    target = target if isinstance(target, str) else None
    question = (
        f"Reset the circuit breaker {target}? It closes, and its job runs again at its next tick."
    )
    return ask_to_confirm(
        "reset breaker", target, reason, question, _preview("breaker_reset", target)
    )


@guarded_callback(
    *_forms("breaker"),
    Input("breaker-confirm", "submit_n_clicks"),
    State("breaker-intent", "data"),
    role="operator",
    action="breaker_reset",
    prevent_initial_call=True,
)
def do_breaker(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Write the audited breaker_reset command."""
    if not isinstance(intent, dict):
        return no_update, no_update, no_update
    if (bad := _bad_reason(intent)) is not None:
        return _not_done(bad)
    target = str(intent.get("target"))
    try:
        command_id = submit_command(
            _app(),
            "breaker_reset",
            target,
            actor=current_user.username,
            role=current_user.role,
            reason=str(intent.get("reason") or ""),
        )
    except BreakGlassRefused as exc:
        return _not_done(refused(str(exc)))
    return _done(_command_outcome(command_id, f"Reset breaker {target}"))


# --- operator: executor switch ---------------------------------------------------------------


@guarded_callback(
    Output("executor-confirm", "displayed"),
    Output("executor-confirm", "message"),
    Output("executor-intent", "data"),
    Output("executor-outcome", "children"),
    Input("executor-apply", "n_clicks"),
    State("executor-target", "value"),
    State("executor-reason", "value"),
    role="operator",
    action="executor",
    prevent_initial_call=True,
)
def ask_executor(_n: int | None, target: str | None, reason: str | None) -> Any:
    """Check first, then ask before switching where runs execute."""
    mode = target if target in EXECUTOR_CHOICES else None
    label = EXECUTOR_CHOICES.get(mode or "", "")
    question = f"Switch where runs execute to {label}? Every server process follows at once."
    return ask_to_confirm(
        "switch executor to",
        mode,
        reason,
        question,
        _preview("executor", "executor", {"mode": mode}) if mode else None,
    )


@guarded_callback(
    *_forms("executor"),
    Input("executor-confirm", "submit_n_clicks"),
    State("executor-intent", "data"),
    role="operator",
    action="executor",
    prevent_initial_call=True,
)
def do_executor(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Write the audited executor command (it takes effect in every process at once)."""
    if not isinstance(intent, dict):
        return no_update, no_update, no_update
    if (bad := _bad_reason(intent)) is not None:
        return _not_done(bad)
    mode = str(intent.get("target"))
    try:
        command_id = submit_command(
            _app(),
            "executor",
            None,
            actor=current_user.username,
            role=current_user.role,
            reason=str(intent.get("reason") or ""),
            params={"mode": mode},
        )
    except BreakGlassRefused as exc:
        return _not_done(refused(str(exc)))
    return _done(_command_outcome(command_id, f"Switch executor to {mode}"))


# --- admin: kill switch -----------------------------------------------------------------------


def kill_card_state(state: dict[str, Any]) -> tuple[Any, bool, bool]:
    """The kill-switch card's state line, and whether Engage and Lift are disabled (the one
    that would change nothing is)."""
    if state.get("engaged"):
        since = str(state.get("since") or "")[:19].replace("T", " ")
        line = dbc.Alert(
            f"Engaged since {since} UTC by {state.get('by')}: {state.get('reason')}",
            color="danger",
            className="py-2 small mb-0",
            id="kill-state-engaged",
        )
        return line, True, False
    line = dbc.Alert(
        "Not engaged: scheduled runs go ahead.",
        color="success",
        className="py-2 small mb-0",
        id="kill-state-lifted",
    )
    return line, False, True


@guarded_callback(
    Output("kill-state", "children"),
    Output("kill-engage", "disabled"),
    Output("kill-lift", "disabled"),
    Input("kill-refresh", "n_intervals"),
    role="admin",
    action="view_kill_switch",
)
def load_kill(_n: int | None) -> tuple[Any, bool, bool]:
    """Whether the switch is engaged, by whom and why; only the action that changes it."""
    return kill_card_state(kill_state(_app()))


KILL_QUESTIONS = {
    "engage": "Engage the kill switch? Every scheduled run stops at once, and only an admin "
    "may run a pipeline by hand until it is lifted.",
    "lift": "Lift the kill switch? Scheduled runs go ahead again from their next tick.",
}


@guarded_callback(
    Output("kill-modal", "is_open"),
    Output("kill-question", "children"),
    Output("kill-intent", "data"),
    Output("kill-outcome", "children"),
    Output("kill-typed", "value"),
    Output("kill-typed-group", "hidden"),
    Output("kill-modal-outcome", "children"),
    Input("kill-engage", "n_clicks"),
    Input("kill-lift", "n_clicks"),
    State("kill-reason", "value"),
    role="admin",
    action="kill_switch",
    prevent_initial_call=True,
)
def ask_kill(_e: int | None, _l: int | None, reason: str | None) -> Any:
    """Check the reason and the switch's state, then ask (engaging: type the word)."""
    action = "engage" if ctx.triggered_id == "kill-engage" else "lift"
    engaged = bool(kill_state(_app())["engaged"])
    needless = None
    if action == "engage" and engaged:
        needless = "the kill switch is engaged already."
    elif action == "lift" and not engaged:
        needless = "the kill switch is not engaged."
    shown, _message, intent, result = ask_to_confirm(
        action, "all pipelines", reason, KILL_QUESTIONS[action], needless
    )
    if not shown:
        return False, no_update, None, result, "", no_update, None
    question = confirm_text(KILL_QUESTIONS[action], intent["reason"])
    return True, question, intent, None, "", action != "engage", None


@guarded_callback(
    *_forms("kill"),
    Output("kill-modal", "is_open", allow_duplicate=True),
    Output("kill-modal-outcome", "children", allow_duplicate=True),
    Output("kill-state", "children", allow_duplicate=True),
    Output("kill-engage", "disabled", allow_duplicate=True),
    Output("kill-lift", "disabled", allow_duplicate=True),
    Input("kill-confirm-ok", "n_clicks"),
    State("kill-intent", "data"),
    State("kill-typed", "value"),
    role="admin",
    action="kill_switch",
    prevent_initial_call=True,
)
def do_kill(_n: int | None, intent: dict[str, Any] | None, typed: Any) -> Any:
    """Flip the kill switch (it takes effect in the same transaction as its command); engaging
    needs the word typed, checked here on the server."""
    unchanged = (no_update,) * 3
    if not isinstance(intent, dict):
        return (no_update,) * 8
    if (bad := _bad_reason(intent)) is not None:
        return (*_not_done(bad), False, None, *unchanged)
    engage = str(intent.get("action", "")).startswith("engage")
    if engage and (typed.strip() if isinstance(typed, str) else "") != TYPED_WORD:
        asked = refused(f"type {TYPED_WORD} (in capitals) to engage the kill switch.")
        return no_update, no_update, no_update, no_update, asked, *unchanged
    try:
        submit_command(
            _app(),
            "kill_switch",
            None,
            actor=current_user.username,
            role=current_user.role,
            reason=str(intent.get("reason") or ""),
            params={"engage": engage},
        )
    except BreakGlassRefused as exc:
        return (*_not_done(refused(str(exc))), False, None, *unchanged)
    state = kill_card_state(kill_state(_app()))
    if engage:
        done = outcome("Kill switch engaged: scheduled runs stop now.", "danger")
    else:
        done = outcome("Kill switch lifted: scheduled runs go ahead again.", "success")
    return (*_done(done), False, None, *state)
