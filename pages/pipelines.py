"""Pipelines: the grid of runs, and the run history with filters, served a block at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import (
    ClientsideFunction,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    dcc,
    html,
    no_update,
)

from app.dashboard import default_zone, page_now, refresh_ms
from app.db import get_db
from app.queries.paging import parse_block
from app.queries.run_grid import GRID_WINDOWS, run_grid
from app.queries.runs import RUN_FILTERS, RUN_SORTS, RunFilter, runs_page
from app.vocabulary import Pipeline, RunStatus, Trigger
from components.formatting import zone
from components.grid import Column, paged_table
from components.ledger import history_rows
from components.run_grid import run_grid as grid_view

dash.register_page(
    __name__,
    path="/pipelines",
    name="Pipelines",
    order=10,
    min_role="viewer",
    title="Pipelines · Dugout",
)

RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}

COLUMNS = [
    Column("link", "Run", pinned=True, run_link=True, sortable=False, width=95),
    Column("pipeline", "Pipeline", width=130),
    Column("status", "Status", status=True, width=110),
    Column("started_at", "Started", width=180),
    Column("reason", "Why", sortable=False, width=260),
    Column("trigger", "Trigger", width=110),
    Column("actor", "By", filter=True, width=110),
    Column("attempt", "Attempt", width=95),
    Column("duration_ms", "Duration (ms)", width=130),
    Column("error", "Error", filter=True, width=260),
]
FILTERS = ("runs-pipeline", "runs-status", "runs-trigger", "runs-range")


def options(words: type[StrEnum]) -> list[str]:
    """A filter's options: every word of the vocabulary, in its order."""
    return [w.value for w in words]


def _select(id_: str, label: str, options: Any, value: Any = None) -> Any:
    return dbc.Col(
        [
            dbc.Label(label, html_for=id_, className="small mb-0"),
            dcc.Dropdown(id=id_, options=options, value=value, clearable=True, placeholder="any"),
        ],
        xs=6,
        md=2,
    )


def layout(**_: Any) -> html.Div:
    """Filters, then the paged run table."""
    return html.Div(
        [
            html.H1("Pipelines", className="h3"),
            dbc.Row(
                [
                    dbc.Col(html.H2("Grid of runs", className="h6 mb-0"), xs="auto"),
                    dbc.Col(
                        dbc.RadioItems(
                            id="grid-window",
                            options=list(GRID_WINDOWS),
                            value="6h",
                            inline=True,
                            className="small",
                        )
                    ),
                ],
                className="align-items-center",
            ),
            html.Div(id="runs-grid", className="mb-3"),
            dbc.Row(
                [
                    _select("runs-pipeline", "Pipeline", options(Pipeline)),
                    _select("runs-status", "Status", options(RunStatus)),
                    _select("runs-trigger", "Trigger", options(Trigger)),
                    _select("runs-range", "Time range", list(RANGES), "24h"),
                ],
                className="g-2 mb-2",
            ),
            html.Div(id="runs-count", className="small text-muted mb-1"),
            paged_table("runs-history", COLUMNS),
            dcc.Interval(id="runs-refresh", interval=refresh_ms()),
        ]
    )


clientside_callback(
    ClientsideFunction("dugoutGrid", "reload"),
    Output("runs-history", "scrollTo"),
    *(Input(i, "value") for i in FILTERS),
    Input("runs-refresh", "n_intervals"),
    Input("live-token", "data"),
    Input("display-tz", "value"),
    State("runs-history", "id"),
    prevent_initial_call=True,
)


def _run_filter(
    pipeline: Any, status: Any, trigger: Any, time_range: Any, now: datetime
) -> RunFilter:
    span = RANGES.get(time_range if isinstance(time_range, str) else "all")
    return RunFilter(
        pipeline=pipeline if isinstance(pipeline, str) else None,
        status=status if isinstance(status, str) else None,
        trigger=trigger if isinstance(trigger, str) else None,
        since=now - span if span else None,
    )


@callback(
    Output("runs-history", "getRowsResponse"),
    Output("runs-count", "children"),
    Input("runs-history", "getRowsRequest"),
    *(State(i, "value") for i in FILTERS),
    State("display-tz", "value"),
)
def load_runs(
    request: Any,
    pipeline: str | None,
    status: str | None,
    trigger: str | None,
    time_range: str | None,
    tz_name: str | None = None,
) -> tuple[Any, Any]:
    """The block of runs the grid asks for, filtered, sorted and counted in SQL, its times
    in the viewer's zone."""
    block = parse_block(request, RUN_SORTS, RUN_FILTERS)
    if block is None:
        return no_update, no_update
    now = page_now()
    with get_db().session() as session:
        rows, total = runs_page(
            session, _run_filter(pipeline, status, trigger, time_range, now), 0, 0, now, block
        )
    text = f"{total} runs match" if total else "No runs match these filters."
    rows_out = history_rows(rows, zone(tz_name, default_zone()))
    return {"rowData": rows_out, "rowCount": total}, text


@callback(
    Output("runs-grid", "children"),
    Input("grid-window", "value"),
    Input("runs-refresh", "n_intervals"),
    Input("live-token", "data"),
)
def load_grid(window: str | None, _n: int | None, _token: Any = None) -> Any:
    """Pipelines x recent slots, each cell the slot's worst run, aggregated in SQL."""
    window = window if window in GRID_WINDOWS else "6h"
    with get_db().session() as session:
        return grid_view(run_grid(session, page_now(), window))
