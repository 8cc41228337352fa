"""Audit log (admin): the newest records and a button that verifies the whole chain."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from app.audit import audit_log
from app.auth import audit_event, guarded_callback
from app.dashboard import refresh_ms
from app.db import get_db
from app.queries.accounts import recent_audit
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


def layout(**_: Any) -> html.Div:
    """The verify button, its verdict and the newest records."""
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
            html.Div(id="admin-audit"),
            dcc.Interval(id="admin-audit-refresh", interval=refresh_ms()),
        ]
    )


@guarded_callback(
    Output("admin-audit", "children"),
    Input("admin-audit-refresh", "n_intervals"),
    role="admin",
    action="view_audit",
)
def load_audit(_: Any) -> Any:
    """The newest audit records."""
    with get_db().session() as session:
        audit = audit_rows(recent_audit(session))
    return records_table(audit, "audit-table", "The audit log is empty.")


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
