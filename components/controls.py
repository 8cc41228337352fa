"""Break-glass forms: every control asks for a reason, then for confirmation, then shows the
outcome. Layout builders only; the pages own the callbacks (which check roles on the server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html, no_update

from app.audit import REASON_MAX, ReasonError, check_reason

REASON_PLACEHOLDER = "Reason (required; written to the audit log)"


def breakglass_form(
    prefix: str,
    title: str,
    fields: Sequence[Any],
    buttons: Sequence[tuple[str, str, str]],
    help_text: str = "",
) -> dbc.Card:
    """A card with `fields`, a reason box, buttons (id suffix, label, colour), a confirmation
    dialog `{prefix}-confirm` and an outcome area `{prefix}-outcome`."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.H3(title, className="h6"),
                html.P(help_text, className="small text-muted") if help_text else None,
                *fields,
                dbc.Input(
                    id=f"{prefix}-reason",
                    placeholder=REASON_PLACEHOLDER,
                    maxLength=REASON_MAX,
                    className="my-2",
                    size="sm",
                ),
                html.Div(
                    [
                        dbc.Button(
                            label,
                            id=f"{prefix}-{suffix}",
                            color=colour,
                            size="sm",
                            className="me-2",
                        )
                        for suffix, label, colour in buttons
                    ]
                ),
                dcc.ConfirmDialog(id=f"{prefix}-confirm"),
                dcc.Store(id=f"{prefix}-intent"),
                html.Div(id=f"{prefix}-outcome", className="mt-2", role="status"),
            ]
        ),
        className="h-100",
        id=f"{prefix}-card",
    )


def outcome(message: str, colour: str = "info", extra: Any = None) -> dbc.Alert:
    """The result of an action, as a sentence (and a link or a secret shown once)."""
    return dbc.Alert(
        [message, extra] if extra is not None else message,
        color=colour,
        className="py-2 small mb-0",
    )


def refused(message: str) -> dbc.Alert:
    """The server refused the action; the sentence says why."""
    return outcome(f"Refused: {message}", "danger")


def confirm_text(action: str, target: str | None, reason: str) -> str:
    """What the confirmation dialog asks."""
    what = f"{action} {target}" if target else action
    return f"{what}?\n\nReason: {reason}\n\nThis is recorded in the audit log under your name."


def ask_to_confirm(action: str, target: str | None, reason: str | None) -> tuple[Any, ...]:
    """The confirmation step of every form: (displayed, message, intent, outcome). Refuses
    early without a target or an acceptable reason; otherwise asks."""
    if not target:
        return False, no_update, None, refused("choose what to act on.")
    try:
        reason = check_reason(reason)
    except ReasonError as exc:
        return False, no_update, None, refused(str(exc))
    intent = {"action": action, "target": target, "reason": reason}
    return True, confirm_text(action.replace("_", " "), target, reason), intent, None
