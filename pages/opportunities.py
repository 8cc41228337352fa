"""Opportunities: the live table with filters and CSV export, EV and latency distributions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dash_table, dcc, html

from app.dashboard import refresh_ms
from app.db import get_db, utcnow
from app.pipelines.strategies import ALL_STRATEGIES
from app.queries.opportunities import detection_latencies, opportunities
from components.csv_safety import neutralise_rows
from components.figures import histogram
from components.opportunities import opportunity_rows

dash.register_page(
    __name__,
    path="/opportunities",
    name="Opportunities",
    order=30,
    min_role="viewer",
    title="Opportunities · Dugout",
)

COLUMNS = [
    ("detected_at", "Detected (UTC)"),
    ("game", "Game"),
    ("market", "Market"),
    ("side", "Side"),
    ("point", "Line"),
    ("book", "Book"),
    ("price", "Price"),
    ("fair_price", "Fair"),
    ("ev_pct", "EV %"),
    ("kelly_pct", "Kelly %"),
    ("strategy", "Strategy"),
    ("latency_s", "Latency s"),
    ("explanation", "Why"),
]
DETECTION_SLO_S = 60.0


def layout(**_: Any) -> html.Div:
    """Filters, the table, and two histograms."""
    return html.Div(
        [
            html.H1("Opportunities", className="h3"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Strategy", html_for="opp-strategy", className="small mb-0"),
                            dcc.Dropdown(
                                id="opp-strategy", options=list(ALL_STRATEGIES), placeholder="any"
                            ),
                        ],
                        xs=6,
                        md=3,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Min EV %", html_for="opp-min-ev", className="small mb-0"),
                            dbc.Input(id="opp-min-ev", type="number", step=0.5, placeholder="any"),
                        ],
                        xs=6,
                        md=2,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Book", html_for="opp-book", className="small mb-0"),
                            dbc.Input(id="opp-book", type="text", placeholder="any", debounce=True),
                        ],
                        xs=6,
                        md=2,
                    ),
                ],
                className="g-2 mb-2",
            ),
            dash_table.DataTable(  # type: ignore[attr-defined]
                id="opp-table",
                columns=[{"name": n, "id": i} for i, n in COLUMNS],
                data=[],
                page_size=20,
                sort_action="native",
                export_format="csv",
                export_headers="display",
                style_table={"overflowX": "auto"},
                style_cell={
                    "fontSize": "0.82rem",
                    "padding": "4px",
                    "textAlign": "left",
                    "maxWidth": "420px",
                    "whiteSpace": "normal",
                },
            ),
            dbc.Row(
                [
                    dbc.Col(dcc.Graph(id="opp-ev-hist", config={"displaylogo": False}), md=6),
                    dbc.Col(dcc.Graph(id="opp-latency-hist", config={"displaylogo": False}), md=6),
                ],
                className="mt-2",
            ),
            dcc.Interval(id="opp-refresh", interval=refresh_ms()),
        ]
    )


@callback(
    Output("opp-table", "data"),
    Output("opp-ev-hist", "figure"),
    Output("opp-latency-hist", "figure"),
    Input("opp-strategy", "value"),
    Input("opp-min-ev", "value"),
    Input("opp-book", "value"),
    Input("opp-refresh", "n_intervals"),
)
def refresh_opportunities(
    strategy: str | None, min_ev_pct: float | None, book: str | None, _n: int | None
) -> tuple[Any, Any, Any]:
    """The newest opportunities (24 h), filtered in SQL."""
    now = utcnow()
    min_ev = float(min_ev_pct) / 100 if min_ev_pct not in (None, "") else None
    with get_db().session() as session:
        found = opportunities(
            session,
            now,
            strategy=strategy,
            min_ev=min_ev,
            book=(book or "").strip().lower() or None,
        )
        latencies = detection_latencies(session, now, timedelta(hours=24))
    rows = opportunity_rows(found)
    ev = histogram(
        [r["ev_pct"] for r in rows],
        "Expected value",
        "EV (%)",
        "No opportunities match in the last 24 hours.",
    )
    lat = histogram(
        latencies,
        "Detection latency",
        "seconds from data to detection",
        "No opportunities detected in the last 24 hours.",
        slo_line=DETECTION_SLO_S,
        slo_label="60 s SLO",
    )
    return neutralise_rows(rows), ev, lat  # the table exports CSV: no formula survives
