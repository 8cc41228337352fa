"""Opportunities: the live table with filters and CSV export, EV and latency distributions."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dash_table, dcc, html, no_update

from app.dashboard import default_zone, keep_view, page_now, refresh_ms
from app.db import get_db
from app.pipelines.strategies import ALL_STRATEGIES
from app.queries.opportunities import (
    arbitrages,
    detection_latencies,
    opportunities,
    opportunity_books,
)
from components.csv_safety import csv_download
from components.figures import chart, figure_store, histogram
from components.formatting import book_options, zone
from components.opportunities import ARB_COLUMNS, COLUMNS, arbitrage_rows, opportunity_rows

dash.register_page(
    __name__,
    path="/opportunities",
    name="Opportunities",
    order=30,
    min_role="viewer",
    title="Opportunities · Dugout",
)

DETECTION_SLO_S = 60.0
WINDOW = timedelta(hours=24)
CSV_LIMIT = 20_000


def _table(element_id: str, columns: tuple[tuple[str, str], ...], page_size: int) -> Any:
    return dash_table.DataTable(  # type: ignore[attr-defined]
        id=element_id,
        columns=[{"name": n, "id": i} for i, n in columns],
        data=[],
        page_size=page_size,
        sort_action="native",
        style_table={"overflowX": "auto", "maxWidth": "100%"},
        style_cell={
            "fontSize": "0.82rem",
            "padding": "4px",
            "textAlign": "left",
            "maxWidth": "420px",
            "whiteSpace": "normal",
        },
        style_data_conditional=[
            {"if": {"filter_query": '{state} = "expired"'}, "color": "#6c757d"},
        ],
    )


def layout(**_: Any) -> html.Div:
    """Filters, the bets table, the arbitrage positions, and two histograms."""
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
                            dcc.Dropdown(id="opp-book", options=[], placeholder="any"),
                        ],
                        xs=6,
                        md=3,
                    ),
                    dbc.Col(
                        dbc.Switch(
                            id="opp-all-ev",
                            label="Include signals without positive EV",
                            value=False,
                            className="small mt-md-4",
                        ),
                        xs=6,
                        md=4,
                    ),
                ],
                className="g-2 mb-2",
            ),
            html.P(
                "One row per bet (game, market, side, line, book, price) with every strategy "
                "that flagged it. Live: the book still offers this price or better and the game "
                "has not started.",
                className="small text-muted mb-1",
            ),
            _table("opp-table", COLUMNS, 20),
            dbc.Button(
                "Download CSV", id="opp-csv", size="sm", color="secondary", className="mt-2"
            ),
            dcc.Download(id="opp-download"),
            html.H2("Arbitrage", className="h5 mt-3"),
            _table("opp-arb-table", ARB_COLUMNS, 10),
            dbc.Row(
                [
                    dbc.Col(chart("opp-ev-hist"), md=6),
                    dbc.Col(chart("opp-latency-hist"), md=6),
                ],
                className="mt-2",
            ),
            dcc.Interval(id="opp-refresh", interval=refresh_ms()),
        ]
    )


def _min_ev(raw: Any) -> float | None:
    """Min EV % from the box as a fraction (None: no minimum); a value of the wrong type
    raises, which the server answers with a 400."""
    if raw is None or raw == "":
        return None
    value = float(raw) / 100
    return value if math.isfinite(value) else None


keep_view("opp-ev-hist", "opp-latency-hist")


@callback(
    Output("opp-table", "data"),
    Output(figure_store("opp-ev-hist"), "data"),
    Output(figure_store("opp-latency-hist"), "data"),
    Input("opp-strategy", "value"),
    Input("opp-min-ev", "value"),
    Input("opp-book", "value"),
    Input("opp-refresh", "n_intervals"),
    Input("opp-all-ev", "value"),
    Input("display-tz", "value"),
)
def refresh_opportunities(
    strategy: Any,
    min_ev_pct: Any,
    book: Any,
    _n: int | None,
    include_all: Any = False,
    tz_name: Any = None,
) -> tuple[Any, Any, Any]:
    """The bets flagged in the last 24 h, one row each, filtered in SQL."""
    now = page_now()
    tz = zone(tz_name, default_zone())
    with get_db().session() as session:
        found = opportunities(
            session,
            now,
            strategy=strategy if strategy in ALL_STRATEGIES else None,
            min_ev=_min_ev(min_ev_pct),
            book=book if isinstance(book, str) and 0 < len(book) <= 32 else None,
            window=WINDOW,
            positive_only=include_all is not True,
        )
        latencies = detection_latencies(session, now, WINDOW)
    rows = opportunity_rows(found, tz, now)
    ev = histogram(
        [r.pop("ev") * 100 for r in rows],
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
    return rows, ev, lat


@callback(
    Output("opp-arb-table", "data"),
    Output("opp-book", "options"),
    Input("opp-book", "value"),
    Input("opp-refresh", "n_intervals"),
    Input("display-tz", "value"),
)
def refresh_arbitrage(book: Any, _n: int | None, tz_name: Any) -> tuple[Any, Any]:
    """Arbitrage positions (one row each, with legs) and the books seen, by display name."""
    now = page_now()
    tz = zone(tz_name, default_zone())
    with get_db().session() as session:
        arbs = arbitrages(
            session,
            now,
            book=book if isinstance(book, str) and 0 < len(book) <= 32 else None,
            window=WINDOW,
        )
        books = opportunity_books(session, now, WINDOW)
    return arbitrage_rows(arbs, tz, now), book_options(books)


@callback(
    Output("opp-download", "data"),
    Input("opp-csv", "n_clicks"),
    State("opp-strategy", "value"),
    State("opp-min-ev", "value"),
    State("opp-book", "value"),
    State("opp-all-ev", "value"),
    State("display-tz", "value"),
    prevent_initial_call=True,
)
def download_opportunities(
    n_clicks: Any, strategy: Any, min_ev_pct: Any, book: Any, include_all: Any, tz_name: Any
) -> Any:
    """The bets the filters show, as a neutralised CSV named dugout-opportunities-<date>.csv."""
    if not n_clicks:
        return no_update
    now = page_now()
    tz = zone(tz_name, default_zone())
    with get_db().session() as session:
        found = opportunities(
            session,
            now,
            strategy=strategy if strategy in ALL_STRATEGIES else None,
            min_ev=_min_ev(min_ev_pct),
            book=book if isinstance(book, str) and 0 < len(book) <= 32 else None,
            window=WINDOW,
            positive_only=include_all is not True,
            limit=CSV_LIMIT,
        )
    return csv_download("opportunities", COLUMNS, opportunity_rows(found, tz, now), now)
