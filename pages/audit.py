"""Audit log (admin): records filtered by actor, action, outcome and time, each request linked
to its outcome, and a button that verifies the whole chain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, clientside_callback, dcc, html, no_update

from app.audit import audit_log
from app.auth import audit_event, guarded_callback
from app.dashboard import default_zone, refresh_ms
from app.db import get_db, utcnow
from app.queries.accounts import AUDIT_SORTS, AuditFilter, audit_choices, audit_lines
from app.queries.paging import Block, parse_block
from components.accounts import audit_rows
from components.formatting import zone
from components.grid import Column, paged_table

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
AUDIT_COLUMNS = [
    Column("seq", "#", pinned=True, width=80),
    Column("at", "At", width=215),
    Column("actor", "Actor", width=120),
    Column("action", "Action", width=160),
    Column("outcome", "Outcome", width=110),
    Column("linked", "Linked", sortable=False, width=170),
    Column("role", "Role", width=90),
    Column("target", "Target", width=140),
    Column("reason", "Reason", sortable=False, width=280, extra={"tooltipField": "reason"}),
    Column("source_ip", "Source IP", width=130),
]
FILTERS = ("audit-actor", "audit-action", "audit-outcome", "audit-window")


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
            html.Div(id="admin-audit", className="small text-muted mb-1"),
            paged_table("audit-table", AUDIT_COLUMNS, height="65vh"),
            dcc.Interval(id="admin-audit-refresh", interval=refresh_ms()),
        ]
    )


def audit_filter(
    actor: Any, action: Any, outcome: Any, window: Any, now: Any = None, block: Block | None = None
) -> AuditFilter:
    """The query the filter values ask for (one grid block of it when `block` is given);
    values that are not strings count as unset."""
    span = WINDOWS.get(window if isinstance(window, str) else "7d", WINDOWS["7d"])[1]
    return AuditFilter(
        actor=actor.strip()[:64] or None if isinstance(actor, str) else None,
        action=action[:64] or None if isinstance(action, str) else None,
        outcome=outcome[:32] or None if isinstance(outcome, str) else None,
        since=(now or utcnow()) - span if span is not None else None,
        limit=block.size + 1 if block else 1,
        offset=block.start if block else 0,
        order=block.order if block else (),
    )


@guarded_callback(
    Output("admin-audit", "children"),
    Output("audit-action", "options"),
    Output("audit-outcome", "options"),
    Input("admin-audit-refresh", "n_intervals"),
    *(Input(i, "value") for i in FILTERS),
    role="admin",
    action="view_audit",
)
def load_audit(_: Any, actor: Any, action: Any, outcome: Any, window: Any) -> Any:
    """Whether any record matches the filters, and the choices of the action and outcome
    filters; the grid asks for the records themselves, a block at a time."""
    query = audit_filter(actor, action, outcome, window)
    with get_db().session() as session:
        found = audit_lines(session, query)
        actions, outcomes = audit_choices(session)
    any_filter = query.actor or query.action or query.outcome or query.since is not None
    empty = "No audit record matches these filters." if any_filter else "The audit log is empty."
    return (
        "" if found else empty,
        [{"label": "Any action", "value": ""}] + [{"label": a, "value": a} for a in actions],
        [{"label": "Any outcome", "value": ""}] + [{"label": o, "value": o} for o in outcomes],
    )


clientside_callback(
    ClientsideFunction("dugoutGrid", "reload"),
    Output("audit-table", "scrollTo"),
    *(Input(i, "value") for i in FILTERS),
    Input("admin-audit-refresh", "n_intervals"),
    Input("display-tz", "value"),
    State("audit-table", "id"),
    prevent_initial_call=True,
)


@guarded_callback(
    Output("audit-table", "getRowsResponse"),
    Input("audit-table", "getRowsRequest"),
    *(State(i, "value") for i in FILTERS),
    State("display-tz", "value"),
    role="admin",
    action="view_audit",
)
def audit_block(
    request: Any, actor: Any, action: Any, outcome: Any, window: Any, tz_name: Any = None
) -> Any:
    """The block of records the grid asks for, newest first unless sorted, from SQL; the
    count is known once a block comes back short."""
    block = parse_block(request, AUDIT_SORTS)
    if block is None:
        return no_update
    with get_db().session() as session:
        lines = audit_lines(session, audit_filter(actor, action, outcome, window, block=block))
    rows = audit_rows(lines[: block.size], zone(tz_name, default_zone()))
    if len(lines) > block.size:
        return {"rowData": rows}
    return {"rowData": rows, "rowCount": block.start + len(rows)}


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
