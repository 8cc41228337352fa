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
    confirm: Any = None,
) -> dbc.Card:
    """A card with `fields`, a reason box, buttons (id suffix, label, colour), a confirmation
    dialog (`{prefix}-confirm`, or `confirm` in its place) and an outcome area
    `{prefix}-outcome`."""
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
                dcc.ConfirmDialog(id=f"{prefix}-confirm") if confirm is None else confirm,
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


def confirm_text(question: str, reason: str) -> str:
    """What the confirmation dialog asks: a plain question, the reason, who is on record."""
    return f"{question}\n\nReason: {reason}\n\nThis is recorded in the audit log under your name."


def ask_to_confirm(
    action: str,
    target: str | None,
    reason: str | None,
    question: str | None = None,
    refusal: str | None = None,
) -> tuple[Any, ...]:
    """The confirmation step of every form: (displayed, message, intent, outcome). Refuses
    early, without asking, when there is no target, no acceptable reason, or `refusal` (why
    the server would refuse it now); otherwise asks `question` (a plain sentence)."""
    if not target:
        return False, no_update, None, refused("choose what to act on.")
    try:
        reason = check_reason(reason)
    except ReasonError as exc:
        return False, no_update, None, refused(str(exc))
    if refusal:
        return False, no_update, None, refused(refusal)
    intent = {"action": action, "target": target, "reason": reason}
    asked = question or f"{action.replace('_', ' ').capitalize()} {target}?"
    return True, confirm_text(asked, reason), intent, None


TYPED_WORD = "ENGAGE"


def typed_confirmation(prefix: str, title: str) -> dbc.Modal:
    """A dialog that asks its question `{prefix}-question` and, for the gravest action, for a
    word typed into `{prefix}-typed` before `{prefix}-confirm-ok` acts (the server checks it)."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(title), close_button=True),
            dbc.ModalBody(
                [
                    html.P(id=f"{prefix}-question", style={"whiteSpace": "pre-line"}),
                    html.Div(
                        [
                            dbc.Label(
                                f"Type {TYPED_WORD} to confirm",
                                html_for=f"{prefix}-typed",
                                className="small",
                            ),
                            dbc.Input(
                                id=f"{prefix}-typed",
                                size="sm",
                                maxLength=16,
                                autoComplete="off",
                                placeholder=TYPED_WORD,
                            ),
                        ],
                        id=f"{prefix}-typed-group",
                    ),
                    html.Div(id=f"{prefix}-modal-outcome", className="mt-2", role="status"),
                ]
            ),
            dbc.ModalFooter(
                dbc.Button("Confirm", id=f"{prefix}-confirm-ok", color="danger", size="sm")
            ),
        ],
        id=f"{prefix}-modal",
        is_open=False,
    )
