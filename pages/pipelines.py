"""Pipelines: run history with filters and server-side paging."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dash_table, dcc, html

from app.dashboard import page_now, refresh_ms
from app.db import get_db
from app.queries.run_grid import GRID_WINDOWS, run_grid
from app.queries.runs import RunFilter, runs_page
from app.vocabulary import Pipeline, RunStatus, Trigger
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

PAGE_SIZE = 25
RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}

COLUMNS = [
    {"name": "Run", "id": "link", "presentation": "markdown"},
    {"name": "Started (UTC)", "id": "started_at"},
    {"name": "Pipeline", "id": "pipeline"},
    {"name": "Status", "id": "status"},
    {"name": "Why", "id": "reason"},
    {"name": "Trigger", "id": "trigger"},
    {"name": "By", "id": "actor"},
    {"name": "Attempt", "id": "attempt"},
    {"name": "Duration (ms)", "id": "duration_ms", "type": "numeric"},
    {"name": "Error", "id": "error"},
]


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
            dash_table.DataTable(  # type: ignore[attr-defined]
                id="runs-history",
                columns=COLUMNS,
                data=[],
                page_current=0,
                page_size=PAGE_SIZE,
                page_action="custom",
                page_count=1,
                markdown_options={"link_target": "_self"},
                style_table={"overflowX": "auto"},
                style_cell={"fontSize": "0.85rem", "padding": "4px", "textAlign": "left"},
                style_data_conditional=[
                    {
                        "if": {"filter_query": '{status} = "failed"', "column_id": "status"},
                        "color": "#b42318",
                        "fontWeight": "bold",
                    },
                    {
                        "if": {"filter_query": '{status} = "succeeded"', "column_id": "status"},
                        "color": "#1a7f37",
                    },
                ],
            ),
            dcc.Interval(id="runs-refresh", interval=refresh_ms()),
        ]
    )


@callback(
    Output("runs-history", "data"),
    Output("runs-history", "page_count"),
    Output("runs-count", "children"),
    Input("runs-history", "page_current"),
    Input("runs-pipeline", "value"),
    Input("runs-status", "value"),
    Input("runs-trigger", "value"),
    Input("runs-range", "value"),
    Input("runs-refresh", "n_intervals"),
    Input("live-token", "data"),
)
def load_runs(
    page: int | None,
    pipeline: str | None,
    status: str | None,
    trigger: str | None,
    time_range: str | None,
    _n: int | None,
    _token: Any = None,
) -> tuple[Any, int, str]:
    """One page of runs from the ledger, filtered in SQL."""
    now = page_now()
    span = RANGES.get(time_range or "all")
    filters = RunFilter(
        pipeline=pipeline, status=status, trigger=trigger, since=now - span if span else None
    )
    with get_db().session() as session:
        rows, total = runs_page(session, filters, page or 0, PAGE_SIZE, now)
    pages = max(1, -(-total // PAGE_SIZE))
    text = f"{total} runs match" if total else "No runs match these filters."
    return history_rows(rows), pages, text


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
