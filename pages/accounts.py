"""Accounts (admin): the users and the form that changes them through the account service.

Every callback is a guarded callback (the role is checked on the server); the change itself is
audited first by the service, which refuses it when the audit record cannot be written.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from flask_login import current_user

from app.accounts import AccountRefused, AccountResult, AccountService, Actor, find_user
from app.audit import audit_log
from app.auth import guarded_callback
from app.dashboard import default_zone, refresh_ms
from app.db import get_db
from app.models import ROLES
from app.queries.accounts import list_users
from app.requestctx import request_meta
from components.accounts import account_rows
from components.controls import ask_to_confirm, breakglass_form, outcome, refused
from components.formatting import zone
from components.ledger import records_table

dash.register_page(
    __name__,
    path="/admin/accounts",
    name="Accounts",
    order=91,
    min_role="admin",
    title="Accounts · Dugout",
)

USER_ACTIONS = {
    "add": "Add user",
    "set_role": "Set role",
    "disable": "Disable",
    "enable": "Enable",
    "reset_password": "Reset password",
}


def layout(**_: Any) -> html.Div:
    """The account form and the users table."""
    form = breakglass_form(
        "user",
        "Change an account",
        [
            dbc.Input(
                id="user-name", placeholder="Username", size="sm", className="mb-2", maxLength=64
            ),
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
    return html.Div(
        [
            html.H1("Accounts", className="h3"),
            dbc.Row(dbc.Col(form, md=6, className="mt-2")),
            html.H2("Users", className="h5 mt-4"),
            html.Div(id="admin-users"),
            dcc.Interval(id="admin-accounts-refresh", interval=refresh_ms()),
        ]
    )


@guarded_callback(
    Output("admin-users", "children"),
    Input("admin-accounts-refresh", "n_intervals"),
    Input("display-tz", "value"),
    role="admin",
    action="view_accounts",
)
def load_users(_: Any, tz_name: Any = None) -> Any:
    """Every account, without secrets, last logins in the viewer's zone."""
    with get_db().session() as session:
        users = account_rows(list_users(session), zone(tz_name, default_zone()))
    return records_table(users, "users-table", "No users.")


@guarded_callback(
    Output("user-confirm", "displayed"),
    Output("user-confirm", "message"),
    Output("user-intent", "data"),
    Output("user-outcome", "children"),
    Input("user-apply", "n_clicks"),
    State("user-name", "value"),
    State("user-role", "value"),
    State("user-action", "value"),
    State("user-reason", "value"),
    role="admin",
    action="manage_users",
    prevent_initial_call=True,
)
def ask_user(_n: int | None, name: Any, role: Any, action: Any, reason: Any) -> Any:
    """Ask before changing an account."""
    action = action if action in USER_ACTIONS else "add"
    name = name.strip() if isinstance(name, str) else None
    role = role if role in ROLES else "viewer"
    displayed, message, intent, result = ask_to_confirm(
        action,
        name or None,
        reason if isinstance(reason, str) else None,
        USER_QUESTIONS[action].format(name=name, role=role),
        _account_refusal(action, name) if name else None,
    )
    if intent:
        intent.update(action=action, target=name, role=role)
    return displayed, message, intent, result


USER_QUESTIONS = {
    "add": "Add the account {name} as {role}? Its password is shown once.",
    "set_role": "Make {name} {role}? Their sessions end, so the new role applies at once.",
    "disable": "Disable the account {name}? Their sessions end and they cannot sign in.",
    "enable": "Enable the account {name}? They can sign in again.",
    "reset_password": "Reset the password of {name}? A new one is shown once; their sessions end.",
}


def _account_refusal(action: str, name: str) -> str | None:
    """Why the change would be refused, checked before asking (the service checks again)."""
    with get_db().session() as session:
        exists = find_user(session, name) is not None
    if action == "add" and exists:
        return f"user {name!r} already exists."
    if action != "add" and not exists:
        return f"no user named {name!r}."
    if action in ("set_role", "disable") and name.lower() == current_user.username.lower():
        return "you cannot demote or disable your own account here (use the CLI)."
    return None


def _change_user(action: str, name: str, role: str | None, reason: str) -> AccountResult:
    """Apply the account change through the account service (audited first)."""
    actor = Actor.from_meta(current_user.username, current_user.role, request_meta())
    service = AccountService(audit_log(), actor)
    if action == "add":
        return service.add(name, role or "viewer", reason)
    if action == "set_role":
        return service.set_role(name, role or "viewer", reason)
    if action in ("disable", "enable"):
        return service.set_active(name, action == "enable", reason)
    return service.reset_password(name, reason)


@guarded_callback(
    Output("user-outcome", "children", allow_duplicate=True),
    Output("admin-accounts-refresh", "n_intervals"),
    Output("user-reason", "value"),
    Output("user-intent", "data", allow_duplicate=True),
    Input("user-confirm", "submit_n_clicks"),
    State("user-intent", "data"),
    role="admin",
    action="manage_users",
    prevent_initial_call=True,
)
def do_user(_n: int | None, intent: Any) -> Any:
    """Change the account, audited first (the record says what and why); a password once."""
    if not isinstance(intent, dict):
        return no_update, no_update, no_update, no_update
    action = str(intent.get("action"))
    action = action if action in USER_ACTIONS else "add"
    name, role = str(intent.get("target") or ""), intent.get("role")
    try:
        result = _change_user(
            action, name, role if isinstance(role, str) else None, str(intent.get("reason") or "")
        )
    except AccountRefused as exc:
        return refused(str(exc)), no_update, no_update, None
    secret = html.Code(result.secret, id="user-password") if result.secret else None
    text = f"{result.message} Shown once: " if result.secret else result.message
    return outcome(text, "success", secret), 0, "", None  # the form is spent: no repeat
