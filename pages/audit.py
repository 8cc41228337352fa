"""Audit log (admin): records filtered by actor, action, outcome and time, each request linked
to its outcome, and a button that verifies the whole chain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from app.audit import audit_log
from app.auth import audit_event, guarded_callback
from app.dashboard import refresh_ms
from app.db import get_db, utcnow
from app.queries.accounts import AuditFilter, audit_choices, audit_lines
from components.accounts import audit_rows
from components.ledger import records_table

dash.register_page(
    __name__,
    path="/admin/audit",
    name="Audit",
    order=92,
    min_role="admin",
    title="Audit log · Dugout",
)

# The time filter's choices: label and how far back (None: all time).
WINDOWS: dict[str, tuple[str, timedelta | None]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(days=1)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "all": ("All time", None),
}
ROWS = 200


def _filters() -> dbc.Row:
    return dbc.Row(
        [
            dbc.Col(
                dbc.Input(
                    id="audit-actor",
                    placeholder="Actor (part of the name)",
                    size="sm",
                    maxLength=64,
                    debounce=True,
                ),
                md=3,
            ),
            dbc.Col(dbc.Select(id="audit-action", placeholder="Any action", size="sm"), md=3),
            dbc.Col(dbc.Select(id="audit-outcome", placeholder="Any outcome", size="sm"), md=2),
            dbc.Col(
                dbc.Select(
                    id="audit-window",
                    options=[{"label": label, "value": k} for k, (label, _) in WINDOWS.items()],
                    value="7d",
                    size="sm",
                ),
                md=2,
            ),
        ],
        className="g-2 mb-2",
    )


def layout(**_: Any) -> html.Div:
    """The verify button, its verdict, the filters and the matching records."""
    return html.Div(
        [
            html.H1("Audit log", className="h3"),
            dbc.Button(
                "Verify audit chain",
                id="audit-verify",
                color="secondary",
                size="sm",
                className="mb-2",
            ),
            html.Div(id="audit-verify-result"),
            _filters(),
            html.P(
                "A scheduler action is recorded when it is requested; its outcome (succeeded, "
                "failed or expired) follows when the scheduler leader applies it, and names the "
                "request in the linked column.",
                className="small text-muted",
            ),
            html.Div(id="admin-audit"),
            dcc.Interval(id="admin-audit-refresh", interval=refresh_ms()),
        ]
    )


def audit_filter(
    actor: Any, action: Any, outcome: Any, window: Any, now: Any = None
) -> AuditFilter:
    """The query the filter values ask for; values that are not strings count as unset."""
    span = WINDOWS.get(window if isinstance(window, str) else "7d", WINDOWS["7d"])[1]
    return AuditFilter(
        actor=actor.strip()[:64] or None if isinstance(actor, str) else None,
        action=action[:64] or None if isinstance(action, str) else None,
        outcome=outcome[:32] or None if isinstance(outcome, str) else None,
        since=(now or utcnow()) - span if span is not None else None,
        limit=ROWS,
    )


@guarded_callback(
    Output("admin-audit", "children"),
    Output("audit-action", "options"),
    Output("audit-outcome", "options"),
    Input("admin-audit-refresh", "n_intervals"),
    Input("audit-actor", "value"),
    Input("audit-action", "value"),
    Input("audit-outcome", "value"),
    Input("audit-window", "value"),
    role="admin",
    action="view_audit",
)
def load_audit(_: Any, actor: Any, action: Any, outcome: Any, window: Any) -> Any:
    """The records matching the filters, and the choices of the action and outcome filters."""
    query = audit_filter(actor, action, outcome, window)
    with get_db().session() as session:
        rows = audit_rows(audit_lines(session, query))
        actions, outcomes = audit_choices(session)
    any_filter = query.actor or query.action or query.outcome or query.since is not None
    empty = "No audit record matches these filters." if any_filter else "The audit log is empty."
    return (
        records_table(rows, "audit-table", empty),
        [{"label": "Any action", "value": ""}] + [{"label": a, "value": a} for a in actions],
        [{"label": "Any outcome", "value": ""}] + [{"label": o, "value": o} for o in outcomes],
    )


@guarded_callback(
    Output("audit-verify-result", "children"),
    Input("audit-verify", "n_clicks"),
    role="admin",
    action="verify_audit_chain",
    prevent_initial_call=True,
)
def verify_audit(_n: int | None) -> Any:
    """Walk the hash chain and report the first broken row, if any."""
    with get_db().session() as session:
        report = audit_log().verify(session)
    audit_event(
        "verify_audit_chain",
        "ok" if report.ok else "broken",
        reason=None if report.ok else report.problem,
    )
    if report.ok:
        return dbc.Alert(f"Chain intact: {report.checked} records verified.", color="success")
    where = f" at record #{report.broken_seq}" if report.broken_seq else ""
    return dbc.Alert(
        f"Chain broken{where}: {report.kind} ({report.problem}); "
        f"{report.checked} records before it are intact.",
        color="danger",
    )
