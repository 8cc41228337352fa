"""Admin: the scheduler's jobs with run-now / pause / resume and breaker reset (operator), the
kill switch, accounts and the audit log (admin).

Every control asks for a reason and a confirmation, and every callback that acts checks the
logged-in user's role on the server (require_role, then the break-glass layer checks again and
writes the audit record). The layout leaves out what a role may not use; that is for clarity,
not protection.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from flask import current_app
from flask_login import current_user

from app.accounts import AccountRefused, AccountResult, AccountService, Actor, role_allows
from app.audit import ReasonError, check_reason, verify_chain
from app.auth import audit_event, require_role
from app.dashboard import refresh_ms
from app.db import get_db, utcnow
from app.models import ROLES, JobSchedule
from app.pipelines.runner import PIPELINE_NAMES
from app.queries import list_users, recent_audit
from app.requestctx import request_meta
from components.controls import breakglass_form, confirm_text, outcome, refused
from components.ledger import records_table
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
USER_ACTIONS = {
    "add": "Add user",
    "set_role": "Set role",
    "disable": "Disable",
    "enable": "Enable",
    "reset_password": "Reset password",
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
    users = breakglass_form(
        "user",
        "Accounts",
        [
            dbc.Input(id="user-name", placeholder="Username", size="sm", className="mb-2"),
            dbc.Select(
                id="user-role",
                options=[{"label": r, "value": r} for r in ROLES],
                value="viewer",
                size="sm",
                className="mb-2",
            ),
            dbc.RadioItems(
                id="user-action",
                options=[{"label": v, "value": k} for k, v in USER_ACTIONS.items()],
                value="add",
                inline=True,
                className="small",
            ),
        ],
        [("apply", "Apply…", "primary")],
        "New and reset passwords are shown once. Changing a role or disabling an account ends "
        "its sessions.",
    )
    return [
        dbc.Row([dbc.Col(kill, md=6, className="mt-3"), dbc.Col(users, md=6, className="mt-3")]),
        html.H2("Users", className="h5 mt-4"),
        html.Div(id="admin-users"),
        html.H2("Audit log", className="h5 mt-4"),
        dbc.Button(
            "Verify audit chain", id="audit-verify", color="secondary", size="sm", className="mb-2"
        ),
        html.Div(id="audit-verify-result"),
        html.Div(id="admin-audit"),
        dcc.Interval(id="admin-accounts-refresh", interval=refresh_ms()),
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


@callback(
    Output("admin-scheduler", "children"),
    Output("admin-jobs", "children"),
    Output("job-target", "options"),
    Output("breaker-target", "options"),
    Input("admin-refresh", "n_intervals"),
)
@require_role("operator", action="view_admin")
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


def _ask(action: str, target: str | None, reason: str | None) -> tuple[Any, ...]:
    """The confirmation step: refuse early without a target or a reason, else ask."""
    if not target:
        return False, no_update, None, refused("choose what to act on.")
    try:
        reason = check_reason(reason)
    except ReasonError as exc:
        return False, no_update, None, refused(str(exc))
    intent = {"action": action, "target": target, "reason": reason}
    return True, confirm_text(action.replace("_", " "), target, reason), intent, None


@callback(
    Output("job-confirm", "displayed"),
    Output("job-confirm", "message"),
    Output("job-intent", "data"),
    Output("job-outcome", "children"),
    Input("job-apply", "n_clicks"),
    State("job-target", "value"),
    State("job-action", "value"),
    State("job-reason", "value"),
    prevent_initial_call=True,
)
@require_role("operator", action="job_control")
def ask_job(_n: int | None, target: str | None, action: str, reason: str | None) -> Any:
    """Ask before running, pausing or resuming."""
    return _ask(action if action in JOB_ACTIONS else "run_now", target, reason)


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


@callback(
    Output("job-outcome", "children", allow_duplicate=True),
    Input("job-confirm", "submit_n_clicks"),
    State("job-intent", "data"),
    prevent_initial_call=True,
)
@require_role("operator", action="job_control")
def do_job(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Run now (straight to the executor) or write a pause / resume command."""
    if not intent:
        return no_update
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


@callback(
    Output("breaker-confirm", "displayed"),
    Output("breaker-confirm", "message"),
    Output("breaker-intent", "data"),
    Output("breaker-outcome", "children"),
    Input("breaker-reset", "n_clicks"),
    State("breaker-target", "value"),
    State("breaker-reason", "value"),
    prevent_initial_call=True,
)
@require_role("operator", action="breaker_reset")
def ask_breaker(_n: int | None, target: str | None, reason: str | None) -> Any:
    """Ask before resetting a breaker."""
    return _ask("reset breaker", target, reason)


@callback(
    Output("breaker-outcome", "children", allow_duplicate=True),
    Input("breaker-confirm", "submit_n_clicks"),
    State("breaker-intent", "data"),
    prevent_initial_call=True,
)
@require_role("operator", action="breaker_reset")
def do_breaker(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Write the audited breaker_reset command."""
    if not intent:
        return no_update
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


@callback(
    Output("executor-confirm", "displayed"),
    Output("executor-confirm", "message"),
    Output("executor-intent", "data"),
    Output("executor-outcome", "children"),
    Input("executor-apply", "n_clicks"),
    State("executor-target", "value"),
    State("executor-reason", "value"),
    prevent_initial_call=True,
)
@require_role("operator", action="executor")
def ask_executor(_n: int | None, target: str | None, reason: str | None) -> Any:
    """Ask before switching where runs execute."""
    return _ask("switch executor to", target if target in EXECUTOR_CHOICES else None, reason)


@callback(
    Output("executor-outcome", "children", allow_duplicate=True),
    Input("executor-confirm", "submit_n_clicks"),
    State("executor-intent", "data"),
    prevent_initial_call=True,
)
@require_role("operator", action="executor")
def do_executor(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Write the audited executor command (it takes effect in every process at once)."""
    if not intent:
        return no_update
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


@callback(
    Output("kill-confirm", "displayed"),
    Output("kill-confirm", "message"),
    Output("kill-intent", "data"),
    Output("kill-outcome", "children"),
    Input("kill-engage", "n_clicks"),
    Input("kill-lift", "n_clicks"),
    State("kill-reason", "value"),
    prevent_initial_call=True,
)
@require_role("admin", action="kill_switch")
def ask_kill(_e: int | None, _l: int | None, reason: str | None) -> Any:
    """Ask before engaging or lifting the kill switch."""
    engage = ctx.triggered_id == "kill-engage"
    return _ask(
        "engage the kill switch" if engage else "lift the kill switch", "all pipelines", reason
    )


@callback(
    Output("kill-outcome", "children", allow_duplicate=True),
    Input("kill-confirm", "submit_n_clicks"),
    State("kill-intent", "data"),
    prevent_initial_call=True,
)
@require_role("admin", action="kill_switch")
def do_kill(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Flip the kill switch (it takes effect in the same transaction as its command)."""
    if not intent:
        return no_update
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


# --- admin: accounts and the audit log ------------------------------------------------------


@callback(
    Output("admin-users", "children"),
    Output("admin-audit", "children"),
    Input("admin-accounts-refresh", "n_intervals"),
)
@require_role("admin", action="view_admin")
def load_admin(_: Any) -> tuple[Any, Any]:
    """Users and the newest audit records (admin only, checked on the server)."""
    with get_db().session() as session:
        users, audit = list_users(session), recent_audit(session)
    return (
        records_table(users, "users-table", "No users."),
        records_table(audit, "audit-table", "The audit log is empty."),
    )


@callback(
    Output("user-confirm", "displayed"),
    Output("user-confirm", "message"),
    Output("user-intent", "data"),
    Output("user-outcome", "children"),
    Input("user-apply", "n_clicks"),
    State("user-name", "value"),
    State("user-role", "value"),
    State("user-action", "value"),
    State("user-reason", "value"),
    prevent_initial_call=True,
)
@require_role("admin", action="manage_users")
def ask_user(
    _n: int | None, name: str | None, role: str | None, action: str, reason: str | None
) -> Any:
    """Ask before changing an account."""
    action = action if action in USER_ACTIONS else "add"
    shown = f"{USER_ACTIONS[action].lower()} {name}" + (
        f" as {role}" if action in ("add", "set_role") else ""
    )
    displayed, message, intent, result = _ask(shown, (name or "").strip() or None, reason)
    if intent:
        intent.update(action=action, target=name.strip() if name else name, role=role)
    return displayed, message, intent, result


def _change_user(action: str, name: str, role: str | None, reason: str) -> AccountResult:
    """Apply the account change through the account service (audited first)."""
    actor = Actor.from_meta(current_user.username, current_user.role, request_meta())
    service = AccountService(get_db().sessionmaker, actor)  # type: ignore[arg-type]
    if action == "add":
        return service.add(name, role or "viewer", reason)
    if action == "set_role":
        return service.set_role(name, role or "viewer", reason)
    if action in ("disable", "enable"):
        return service.set_active(name, action == "enable", reason)
    return service.reset_password(name, reason)


@callback(
    Output("user-outcome", "children", allow_duplicate=True),
    Output("admin-accounts-refresh", "n_intervals"),
    Input("user-confirm", "submit_n_clicks"),
    State("user-intent", "data"),
    prevent_initial_call=True,
)
@require_role("admin", action="manage_users")
def do_user(_n: int | None, intent: dict[str, Any] | None) -> Any:
    """Change the account, audited first (the record says what and why); a password once."""
    if not intent:
        return no_update, no_update
    action, name = str(intent.get("action")), str(intent.get("target") or "")
    action = action if action in USER_ACTIONS else "add"
    role, reason = intent.get("role"), str(intent.get("reason") or "")
    try:
        result = _change_user(action, name, role, reason)
    except AccountRefused as exc:
        return refused(str(exc)), no_update
    secret = html.Code(result.secret, id="user-password") if result.secret else None
    text = f"{result.message} Shown once: " if result.secret else result.message
    return outcome(text, "success", secret), 0


@callback(
    Output("audit-verify-result", "children"),
    Input("audit-verify", "n_clicks"),
    prevent_initial_call=True,
)
@require_role("admin", action="verify_audit_chain")
def verify_audit(_n: int | None) -> Any:
    """Walk the hash chain and report the first broken row, if any."""
    with get_db().session() as session:
        report = verify_chain(session)
    audit_event(
        "verify_audit_chain",
        "ok" if report.ok else "broken",
        reason=None if report.ok else report.problem,
    )
    if report.ok:
        return dbc.Alert(f"Chain intact: {report.checked} records verified.", color="success")
    return dbc.Alert(
        f"Chain broken at record #{report.broken_seq} ({report.problem}); "
        f"{report.checked} records before it are intact.",
        color="danger",
    )
