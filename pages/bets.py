"""Bets: every recommendation (open, settled, void) with its price, stake, strategies, current
and closing prices, CLV and result; filters, a totals line and a CSV of what is shown."""

from __future__ import annotations

from collections.abc import Sequence
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
from app.pipelines.strategies import ALL_STRATEGIES
from app.queries.bets import BET_SORTS, bet_books, bet_totals, bets
from app.queries.paging import parse_block
from components.bets import COLUMNS, bet_filter, bet_rows, totals_line
from components.csv_safety import csv_download
from components.formatting import MARKET_NAMES, book_options, zone
from components.grid import Column, paged_table

dash.register_page(
    __name__, path="/bets", name="Bets", order=15, min_role="viewer", title="Bets · Dugout"
)

CSV_LIMIT = 20_000  # the export follows the filters, well past one screen
FILTERS = ("bets-state", "bets-strategy", "bets-book", "bets-market")
# Key columns first and the bet pinned, so a phone sees the bet before the detail.
GRID_COLUMNS = [
    Column(
        key,
        name,
        pinned=key == "bet",
        sortable=key in BET_SORTS,
        status=key == "state",
        width={"bet": 190, "legs": 360, "tags": 160, "game": 150, "start": 160}.get(key, 105),
        extra={"tooltipField": key} if key in ("bet", "legs", "tags", "game") else {},
    )
    for key, name in COLUMNS
]
ARBITRAGE_ROW = {"grid-row-arbitrage": "params.data && params.data.kind === 'arbitrage'"}
STATE_OPTIONS = [
    {"label": "open", "value": "open"},
    {"label": "settled", "value": "settled"},
    {"label": "void", "value": "void"},
]


def _select(element_id: str, label: str, options: list[dict[str, str]], value: Any = None) -> Any:
    return dbc.Col(
        [
            dbc.Label(label, html_for=element_id, className="small mb-0"),
            dcc.Dropdown(id=element_id, options=options, value=value, placeholder="any"),
        ],
        xs=6,
        md=2,
    )


def _query_value(raw: Any, allowed: Any = None) -> str | None:
    """A filter from the address (`/bets?book=fanduel`): a short string, a listed one if
    `allowed` is given, else nothing."""
    if not isinstance(raw, str) or not 0 < len(raw) <= 32:
        return None
    return raw if allowed is None or raw in allowed else None


def layout(
    status: Any = None, strategy: Any = None, book: Any = None, market: Any = None, **_: Any
) -> html.Div:
    """Filters (preset from the address, so a filtered view can be shared), the totals line,
    the table and the export button."""
    status = _query_value(status, ("open", "settled", "void"))
    strategy = _query_value(strategy, ALL_STRATEGIES)
    book = _query_value(book)
    market = _query_value(market, MARKET_NAMES)
    return html.Div(
        [
            html.H1("Bets", className="h3"),
            html.P(
                "Every recommendation: one row per bet whatever the strategies that signalled "
                "it, an arbitrage as one row with its legs. Price CLV is against the devigged "
                "sharp close at the bet's own point; line CLV is in points.",
                className="text-muted small",
            ),
            dbc.Row(
                [
                    _select("bets-state", "Status", STATE_OPTIONS, status),
                    _select(
                        "bets-strategy",
                        "Strategy",
                        [{"label": s, "value": s} for s in ALL_STRATEGIES],
                        strategy,
                    ),
                    _select("bets-book", "Book", book_options([book] if book else []), book),
                    _select(
                        "bets-market",
                        "Market",
                        [{"label": n, "value": k} for k, n in MARKET_NAMES.items()],
                        market,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("First pitch", html_for="bets-dates", className="small mb-0"),
                            dcc.DatePickerRange(
                                id="bets-dates", clearable=True, className="d-block"
                            ),
                        ],
                        xs=12,
                        md=4,
                    ),
                ],
                className="g-2 mb-2",
            ),
            html.Div(id="bets-totals", className="mb-2"),
            paged_table("bets-table", GRID_COLUMNS, row_class=ARBITRAGE_ROW),
            dbc.Button(
                "Download CSV", id="bets-csv", size="sm", color="secondary", className="mt-2"
            ),
            dcc.Download(id="bets-download"),
            dcc.Interval(id="bets-refresh", interval=refresh_ms()),
        ]
    )


def _read(
    values: tuple[Any, ...],
    tz_name: str | None,
    limit: int = 500,
    offset: int = 0,
    order: Sequence[tuple[str, bool]] = (),
) -> tuple[Any, ...]:
    tz = zone(tz_name, default_zone())
    state, strategy, book, market, start, end = values
    f = bet_filter(state, strategy, book, market, start, end, tz, list(ALL_STRATEGIES))
    now = page_now()
    with get_db().session() as session:
        page = bets(session, f, now, limit=limit, offset=offset, order=order)
    return page, tz, now


@callback(
    Output("bets-totals", "children"),
    Output("bets-book", "options"),
    *(Input(i, "value") for i in FILTERS),
    Input("bets-dates", "start_date"),
    Input("bets-dates", "end_date"),
    Input("display-tz", "value"),
    Input("bets-refresh", "n_intervals"),
)
def refresh_bets(
    state: Any,
    strategy: Any,
    book: Any,
    market: Any,
    start: Any,
    end: Any,
    tz_name: str | None,
    _n: int | None,
) -> tuple[Any, ...]:
    """The totals of the filtered bets (settled days from the totals rollup, the rest from
    the ledger; the dates are whole days in the viewer's zone) and the books seen; the grid
    asks for its rows itself."""
    tz = zone(tz_name, default_zone())
    f = bet_filter(state, strategy, book, market, start, end, tz, list(ALL_STRATEGIES))
    with get_db().session() as session:
        totals = bet_totals(session, f, page_now())
        books = bet_books(session)
    return totals_line(totals), book_options(books)


clientside_callback(
    ClientsideFunction("dugoutGrid", "reload"),
    Output("bets-table", "scrollTo"),
    *(Input(i, "value") for i in FILTERS),
    Input("bets-dates", "start_date"),
    Input("bets-dates", "end_date"),
    Input("display-tz", "value"),
    Input("bets-refresh", "n_intervals"),
    State("bets-table", "id"),
    prevent_initial_call=True,
)


@callback(
    Output("bets-table", "getRowsResponse"),
    Input("bets-table", "getRowsRequest"),
    *(State(i, "value") for i in FILTERS),
    State("bets-dates", "start_date"),
    State("bets-dates", "end_date"),
    State("display-tz", "value"),
)
def bet_block(
    request: Any,
    state: Any,
    strategy: Any,
    book: Any,
    market: Any,
    start: Any,
    end: Any,
    tz_name: str | None,
) -> Any:
    """The block of bets the grid asks for, filtered, sorted and paged in SQL."""
    block = parse_block(request, BET_SORTS)
    if block is None:
        return no_update
    page, tz, now = _read(
        (state, strategy, book, market, start, end),
        tz_name,
        limit=block.size,
        offset=block.start,
        order=block.order,
    )
    return {"rowData": bet_rows(page.rows, tz, now), "rowCount": page.totals.bets}


@callback(
    Output("bets-download", "data"),
    Input("bets-csv", "n_clicks"),
    *(State(i, "value") for i in FILTERS),
    State("bets-dates", "start_date"),
    State("bets-dates", "end_date"),
    State("display-tz", "value"),
    prevent_initial_call=True,
)
def download_bets(
    n_clicks: int | None,
    state: Any,
    strategy: Any,
    book: Any,
    market: Any,
    start: Any,
    end: Any,
    tz_name: str | None,
) -> Any:
    """The bets the filters show, as a neutralised CSV named dugout-bets-<UTC date>.csv."""
    if not n_clicks:
        return no_update
    values = (state, strategy, book, market, start, end)
    page, tz, now = _read(values, tz_name, limit=CSV_LIMIT)
    return csv_download("bets", COLUMNS, bet_rows(page.rows, tz, now), now)
