"""One run, to investigate: why it ended so, who started it and why, its attempts and the runs
of its tick, what it wrote, each stage's detail, the stage timeline and its log lines."""

from __future__ import annotations

import uuid
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html

from app.dashboard import default_zone, keep_view
from app.db import get_db
from app.extensions import SETTINGS
from app.observability.run_logs import run_log_lines
from app.queries.run_page import run_page
from components.figures import chart, figure_store, stage_gantt
from components.formatting import timestamp, zone
from components.ledger import STATUS_COLOURS, empty_state
from components.run_page import (
    LOG_LEVELS,
    fact,
    family,
    log_table,
    params_list,
    stage_details,
    trace_link,
    written,
)

dash.register_page(
    __name__,
    path_template="/pipelines/<run_id>",
    name="Run",
    order=11,
    min_role="viewer",
    nav=False,
    title="Run · Dugout",
)

DEFAULT_LEVEL = "INFO"


def _template() -> str:
    settings = SETTINGS.find()
    return str(getattr(settings, "trace_url_template", "") or "")


def layout(run_id: str | None = None, **_: Any) -> Any:
    """The run's facts, family, stage timeline and detail, and its log lines; re-read when the
    live token moves while the run is still queued or running."""
    if not run_id:
        return empty_state("No run selected.")
    with get_db().session() as session:
        run = run_page(session, run_id, DEFAULT_LEVEL)
    if run is None:
        return empty_state(f"No run with id {run_id}.", "run-missing")
    tz = zone(default_zone())  # the viewer's own zone follows in the first callback
    return html.Div(
        [
            dcc.Store(id="run-live", data=_live(run, str(tz))),
            html.Div(_body(run, tz), id="run-body"),
            # outside the body, so a re-read keeps the user's zoom (a new graph would not)
            chart("run-gantt", stage_gantt(run["stages"])),
            html.Div(_details(run, tz), id="run-details"),
        ]
    )


keep_view("run-gantt")


@callback(
    Output("run-body", "children"),
    Output(figure_store("run-gantt"), "data"),
    Output("run-details", "children"),
    Output("run-live", "data"),
    Input("live-token", "data"),
    Input("display-tz", "value"),
    State("run-live", "data"),
)
def follow_run(_token: Any, tz_name: str | None, live: dict[str, Any] | None) -> Any:
    """A run still going is read again when the token moves; a finished one stays put. The
    page is drawn again in the viewer's time zone when it is not the instance's default (the
    layout, drawn on the server, cannot know the browser's choice) and when the viewer picks
    another."""
    drawn_in = str(zone(tz_name, default_zone()))
    going = bool(live) and (live or {}).get("status") in ("queued", "running")
    if not live or not (going or drawn_in != live.get("tz")):
        return (dash.no_update,) * 4
    with get_db().session() as session:
        run = run_page(session, str(live.get("id")), DEFAULT_LEVEL)
    if run is None:
        return (dash.no_update,) * 4
    tz = zone(drawn_in)
    return _body(run, tz), stage_gantt(run["stages"]), _details(run, tz), _live(run, drawn_in)


def _live(run: dict[str, Any], tz_name: str) -> dict[str, Any]:
    """What the page's store keeps: the run, whether it is still going, the zone it is drawn in."""
    return {"id": run["id"], "status": run["status"], "tz": tz_name}


def _body(run: dict[str, Any], tz: Any) -> Any:
    """What the page shows above the stage timeline: the run's status, why, its facts and
    what it wrote."""
    colour = STATUS_COLOURS.get(run["status"], "secondary")
    why = None
    if run.get("reason"):
        why = dbc.Alert(
            [html.Strong("Why: "), run["reason"]],
            color="danger" if run["status"] == "failed" else "secondary",
            className="py-2",
            id="run-reason",
        )
    return html.Div(
        [
            dcc.Link("← all runs", href="/pipelines", className="small"),
            html.H1(
                [f"{run['pipeline']} run ", dbc.Badge(run["status"], color=colour)],
                className="h3 mt-1",
            ),
            why,
            html.Div(
                [
                    fact("trigger", run["trigger"]),
                    fact("by", run["actor"]),
                    fact("operator's reason", run.get("operator_reason"), "run-operator-reason"),
                    fact("attempt", run["attempt"]),
                    fact("tick", timestamp(run["scheduled_for"], tz, precise=True)),
                    fact("started", timestamp(run["started_at"], tz, precise=True)),
                    fact("duration ms", round(run["duration_ms"] or 0, 1)),
                ],
                className="d-flex flex-wrap mb-2",
                id="run-facts",
            ),
            html.Div(
                [
                    html.Span("params", className="text-muted small me-2"),
                    params_list(run["params"]),
                ],
                className="mb-2",
            ),
            html.Div(
                [
                    fact("run id", run["id"]),
                    fact("correlation id", run["correlation_id"]),
                    fact("trace id", trace_link(run["trace_id"], _template())),
                ],
                className="d-flex flex-wrap mb-2",
            ),
            html.H2("What it wrote", className="h6 mt-2"),
            written(run["written"]),
        ]
    )


def _details(run: dict[str, Any], tz: Any) -> Any:
    """What the page shows below the stage timeline: each stage's detail, the run's family
    and its log lines."""
    return html.Div(
        [
            html.H2("Stages", className="h6 mt-2"),
            stage_details(run["stages"]),
            family(run),
            dbc.Row(
                [
                    dbc.Col(html.H2("Log lines", className="h6 mt-3 mb-0"), xs="auto"),
                    dbc.Col(
                        dbc.RadioItems(
                            id="run-log-level",
                            options=list(LOG_LEVELS),
                            value=DEFAULT_LEVEL,
                            inline=True,
                            className="small",
                        ),
                        className="mt-3",
                    ),
                ],
                className="align-items-center",
            ),
            dcc.Store(id="run-log-id", data={"id": run["id"], "cid": run["correlation_id"]}),
            html.Div(log_table(run["logs"], DEFAULT_LEVEL, tz), id="run-logs-box"),
        ]
    )


@callback(
    Output("run-logs-box", "children"),
    Input("run-log-level", "value"),
    State("run-log-id", "data"),
    State("display-tz", "value"),
    prevent_initial_call=True,
)
def filter_logs(level: str | None, run: dict[str, Any] | None, tz_name: str | None = None) -> Any:
    """The run's log lines at the chosen level and above."""
    level = level if level in LOG_LEVELS else DEFAULT_LEVEL
    try:
        rid = uuid.UUID(str((run or {}).get("id")))
    except ValueError:
        return empty_state("No run selected.")
    cid = (run or {}).get("cid")
    with get_db().session() as session:
        lines = run_log_lines(session, rid, str(cid) if cid else None, level)
    return log_table(lines, level, zone(tz_name, default_zone()))
