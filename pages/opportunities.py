"""Opportunities: the live table with filters and CSV export, EV and latency distributions."""

from __future__ import annotations

import math
from datetime import timedelta
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

from app.dashboard import default_zone, keep_view, page_now, refresh_ms
from app.db import get_db
from app.pipelines.strategies import ALL_STRATEGIES
from app.queries.opportunities import (
    OPPORTUNITY_SORTS,
    arbitrages,
    detection_latencies,
    opportunities,
    opportunity_books,
    opportunity_evs,
)
from app.queries.paging import parse_block
from components.csv_safety import csv_download
from components.figures import chart, figure_store, histogram
from components.formatting import book_options, zone
from components.grid import Column, paged_table
from components.grid import table as grid_table
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


# Key columns first and the bet pinned, so a phone sees the bet before the detail.
GRID_COLUMNS = [
    Column(
        key,
        name,
        pinned=key == "bet",
        sortable=key in OPPORTUNITY_SORTS,
        width={"bet": 170, "tags": 160, "game": 150, "start": 160, "detected": 230}.get(key, 95),
        extra={"tooltipField": key} if key in ("bet", "tags", "game", "explanation") else {},
    )
    for key, name in COLUMNS
]
GRID_COLUMNS[-1] = Column(
    "explanation", "Why", sortable=False, width=520, extra={"tooltipField": "explanation"}
)
ARB_GRID_COLUMNS = [
    Column(
        key, name, pinned=key == "game", wrap=key == "legs", width=380 if key == "legs" else None
    )
    for key, name in ARB_COLUMNS
]
EXPIRED_ROW = {"grid-row-muted": "params.data && params.data.state === 'expired'"}
FILTER_INPUTS = ("opp-strategy", "opp-min-ev", "opp-book", "opp-all-ev")


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
            paged_table("opp-table", GRID_COLUMNS, height="60vh", row_class=EXPIRED_ROW),
            dbc.Button(
                "Download CSV", id="opp-csv", size="sm", color="secondary", className="mt-2"
            ),
            dcc.Download(id="opp-download"),
            html.H2("Arbitrage", className="h5 mt-3"),
            html.Div(id="opp-arb-box"),
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
    Output(figure_store("opp-ev-hist"), "data"),
    Output(figure_store("opp-latency-hist"), "data"),
    Input("opp-strategy", "value"),
    Input("opp-min-ev", "value"),
    Input("opp-book", "value"),
    Input("opp-refresh", "n_intervals"),
    Input("opp-all-ev", "value"),
)
def refresh_opportunities(
    strategy: Any,
    min_ev_pct: Any,
    book: Any,
    _n: int | None,
    include_all: Any = False,
) -> tuple[Any, Any]:
    """The distributions of the bets flagged in the last 24 h (one row each, filtered in SQL);
    the grid asks for its rows itself, a block at a time."""
    now = page_now()
    with get_db().session() as session:
        evs = opportunity_evs(
            session,
            now,
            strategy=strategy if strategy in ALL_STRATEGIES else None,
            min_ev=_min_ev(min_ev_pct),
            book=book if isinstance(book, str) and 0 < len(book) <= 32 else None,
            window=WINDOW,
            positive_only=include_all is not True,
        )
        latencies = detection_latencies(session, now, WINDOW)
    ev = histogram(
        [v * 100 for v in evs],
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
    return ev, lat


clientside_callback(
    ClientsideFunction("dugoutGrid", "reload"),
    Output("opp-table", "scrollTo"),
    *(Input(i, "value") for i in FILTER_INPUTS),
    Input("display-tz", "value"),
    Input("opp-refresh", "n_intervals"),
    State("opp-table", "id"),
    prevent_initial_call=True,
)


@callback(
    Output("opp-table", "getRowsResponse"),
    Input("opp-table", "getRowsRequest"),
    *(State(i, "value") for i in FILTER_INPUTS),
    State("display-tz", "value"),
)
def opportunity_block(
    request: Any, strategy: Any, min_ev_pct: Any, book: Any, include_all: Any, tz_name: Any
) -> Any:
    """The block of bets the grid asks for, filtered, sorted and paged in SQL; the count is
    known once a block comes back short."""
    block = parse_block(request, OPPORTUNITY_SORTS)
    if block is None:
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
            limit=block.size + 1,
            offset=block.start,
            order=block.order,
        )
    rows = opportunity_rows(found[: block.size], tz, now)
    for row in rows:
        row.pop("ev")
    if len(found) > block.size:
        return {"rowData": rows}  # more to come: the grid asks again as the reader scrolls
    return {"rowData": rows, "rowCount": block.start + len(rows)}


@callback(
    Output("opp-arb-box", "children"),
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
    table = grid_table(
        "opp-arb-table",
        ARB_GRID_COLUMNS,
        arbitrage_rows(arbs, tz, now),
        row_class=EXPIRED_ROW,
        page_size=10,
    )
    return table, book_options(books)


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
