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
from app.dashboard import refresh_ms
from app.db import get_db, utcnow
from app.models import JobSchedule
from app.pipelines.runner import PIPELINE_NAMES
from components.controls import ask_to_confirm, breakglass_form, outcome, refused
from components.status import jobs_table, scheduler_summary
from scheduler import BreakGlassRefused, run_now, submit_command, wait_for_command
from scheduler.status import scheduler_status

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
    extra = current_app.extensions["dugout.settings"].extra or {}
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
        [],
        [("engage", "Engage kill switch…", "danger"), ("lift", "Lift kill switch…", "success")],
        "Engaged, it stops every scheduled run at once; only an admin may run a pipeline by hand.",
    )
    return [dbc.Row([dbc.Col(kill, md=6, className="mt-3")])]


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
    role="operator",
    action="view_admin",
)
def load_scheduler(_n: int | None) -> tuple[Any, ...]:
    """Leader, the job table and the choices of the two forms."""
    now = utcnow()
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
    return scheduler_summary(status, now), jobs_table(jobs), targets, breaker_options


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
    """Ask before running, pausing or resuming."""
    return ask_to_confirm(action if action in JOB_ACTIONS else "run_now", target, reason)


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
        return outcome(f"{what}: applied — {state.result or 'done'}.", "success")
    if state.status == "failed":
        return outcome(f"{what}: failed — {state.result or 'no detail'}.", "danger")
    return outcome(
        f"{what}: queued as command {command_id} ({state.status}); the scheduler leader applies "
        "it within seconds of taking the lease.",
        "warning",
    )


@guarded_callback(
    Output("job-outcome", "children", allow_duplicate=True),
    Input("job-confirm", "submit_n_clicks"),
    State("job-intent", "data"),
    role="operator",
    action="job_control",
    prevent_initial_call=True,
)
def do_job(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Run now (straight to the executor) or write a pause / resume command."""
    if not isinstance(intent, dict):
        return no_update
    if (bad := _bad_reason(intent)) is not None:
        return bad
    action, target, reason = intent.get("action"), str(intent.get("target")), intent.get("reason")
    user, role = current_user.username, current_user.role
    try:
        if action == "run_now":
            pipeline = _pipeline_of(target)
            run_id = run_now(_app(), pipeline, actor=user, role=role, reason=str(reason or ""))
            return outcome(
                f"Started {pipeline}: run ",
                "success",
                dcc.Link(str(run_id), href=f"/pipelines/{run_id}", id="job-run-link"),
            )
        if action not in ("pause", "resume"):
            return refused(f"unknown action {action!r}.")
        command_id = submit_command(
            _app(), str(action), target, actor=user, role=role, reason=str(reason or "")
        )
    except BreakGlassRefused as exc:
        return refused(str(exc))
    return _command_outcome(command_id, f"{JOB_ACTIONS[str(action)]} {target}")


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
    """Ask before resetting a breaker."""
    return ask_to_confirm("reset breaker", target, reason)


@guarded_callback(
    Output("breaker-outcome", "children", allow_duplicate=True),
    Input("breaker-confirm", "submit_n_clicks"),
    State("breaker-intent", "data"),
    role="operator",
    action="breaker_reset",
    prevent_initial_call=True,
)
def do_breaker(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Write the audited breaker_reset command."""
    if not isinstance(intent, dict):
        return no_update
    if (bad := _bad_reason(intent)) is not None:
        return bad
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
        return refused(str(exc))
    return _command_outcome(command_id, f"Reset breaker {target}")


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
    """Ask before switching where runs execute."""
    return ask_to_confirm(
        "switch executor to", target if target in EXECUTOR_CHOICES else None, reason
    )


@guarded_callback(
    Output("executor-outcome", "children", allow_duplicate=True),
    Input("executor-confirm", "submit_n_clicks"),
    State("executor-intent", "data"),
    role="operator",
    action="executor",
    prevent_initial_call=True,
)
def do_executor(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Write the audited executor command (it takes effect in every process at once)."""
    if not isinstance(intent, dict):
        return no_update
    if (bad := _bad_reason(intent)) is not None:
        return bad
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
        return refused(str(exc))
    return _command_outcome(command_id, f"Switch executor to {mode}")


# --- admin: kill switch -----------------------------------------------------------------------


@guarded_callback(
    Output("kill-confirm", "displayed"),
    Output("kill-confirm", "message"),
    Output("kill-intent", "data"),
    Output("kill-outcome", "children"),
    Input("kill-engage", "n_clicks"),
    Input("kill-lift", "n_clicks"),
    State("kill-reason", "value"),
    role="admin",
    action="kill_switch",
    prevent_initial_call=True,
)
def ask_kill(_e: int | None, _l: int | None, reason: str | None) -> Any:
    """Ask before engaging or lifting the kill switch."""
    engage = ctx.triggered_id == "kill-engage"
    return ask_to_confirm(
        "engage the kill switch" if engage else "lift the kill switch", "all pipelines", reason
    )


@guarded_callback(
    Output("kill-outcome", "children", allow_duplicate=True),
    Input("kill-confirm", "submit_n_clicks"),
    State("kill-intent", "data"),
    role="admin",
    action="kill_switch",
    prevent_initial_call=True,
)
def do_kill(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Flip the kill switch (it takes effect in the same transaction as its command)."""
    if not isinstance(intent, dict):
        return no_update
    if (bad := _bad_reason(intent)) is not None:
        return bad
    engage = str(intent.get("action", "")).startswith("engage")
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
        return refused(str(exc))
    if engage:
        return outcome("Kill switch engaged: scheduled runs stop now.", "danger")
    return outcome("Kill switch lifted: scheduled runs resume.", "success")
