"""One run: stage timeline, records in/out, errors, correlation and trace ids, retries."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.db import get_db
from app.queries.runs import run_detail
from components.figures import stage_gantt
from components.ledger import empty_state, records_table

dash.register_page(
    __name__,
    path_template="/pipelines/<run_id>",
    name="Run",
    order=11,
    min_role="viewer",
    nav=False,
    title="Run · Dugout",
)


def _fact(label: str, value: Any) -> html.Div:
    return html.Div(
        [
            html.Span(label, className="text-muted small me-2"),
            html.Code(str(value)) if value not in (None, "") else html.Span("—"),
        ],
        className="me-4",
    )


def layout(run_id: str | None = None, **_: Any) -> Any:
    """The run's facts, its stage Gantt and stage table."""
    if not run_id:
        return empty_state("No run selected.")
    with get_db().session() as session:
        run = run_detail(session, run_id)
    if run is None:
        return empty_state(f"No run with id {run_id}.", "run-missing")
    stage_rows = [
        {
            "stage": s["stage"],
            "status": s["status"],
            "duration_ms": round(s["duration_ms"], 1) if s["duration_ms"] is not None else None,
            "records_in": s["records_in"],
            "records_out": s["records_out"],
            "error": f"{s['error_type']}: {s['error_message']}" if s["error_type"] else "",
            "reason": s["reason"] or "",
        }
        for s in run["stages"]
    ]
    error = None
    if run["error_message"]:
        error = dbc.Alert(
            [html.Strong(run["error_type"] or "Error"), ": ", run["error_message"]],
            color="danger",
            id="run-error",
        )
    return html.Div(
        [
            dcc.Link("← all runs", href="/pipelines", className="small"),
            html.H1(f"{run['pipeline']} run", className="h3 mt-1"),
            html.Div(
                [
                    _fact("status", run["status"]),
                    _fact("trigger", run["trigger"]),
                    _fact("by", run["actor"]),
                    _fact("attempt", run["attempt"]),
                    _fact("started", run["started_at"]),
                    _fact("duration ms", round(run["duration_ms"] or 0, 1)),
                ],
                className="d-flex flex-wrap mb-2",
                id="run-facts",
            ),
            html.Div(
                [
                    _fact("run id", run["id"]),
                    _fact("correlation id", run["correlation_id"]),
                    _fact("trace id", run["trace_id"]),
                ],
                className="d-flex flex-wrap mb-2",
            ),
            error,
            dcc.Graph(
                figure=stage_gantt(run["stages"]), id="run-gantt", config={"displaylogo": False}
            ),
            records_table(stage_rows, "run-stages", "No stages recorded."),
            html.H2("Attempts", className="h6 mt-3"),
            html.Ul(
                [
                    html.Li(
                        dcc.Link(
                            f"attempt {a['attempt']}: {a['status']}", href=f"/pipelines/{a['id']}"
                        )
                    )
                    for a in run["attempts"]
                ]
            ),
        ]
    )
