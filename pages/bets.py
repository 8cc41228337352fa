"""Bets: every recommendation (open, settled, void) with its price, stake, strategies, current
and closing prices, CLV and result; filters, a totals line and a CSV of what is shown."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dash_table, dcc, html, no_update

from app.dashboard import default_zone, page_now, refresh_ms
from app.db import get_db
from app.pipelines.strategies import ALL_STRATEGIES
from app.queries.bets import bet_books, bets
from components.bets import COLUMNS, bet_filter, bet_rows, totals_line
from components.csv_safety import csv_download
from components.formatting import MARKET_NAMES, book_options, zone

dash.register_page(
    __name__, path="/bets", name="Bets", order=15, min_role="viewer", title="Bets · Dugout"
)

CSV_LIMIT = 20_000  # the export follows the filters, well past one screen
FILTERS = ("bets-state", "bets-strategy", "bets-book", "bets-market")
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
            dash_table.DataTable(  # type: ignore[attr-defined]
                id="bets-table",
                columns=[{"name": n, "id": i} for i, n in COLUMNS],
                data=[],
                page_size=25,
                sort_action="native",
                style_table={"overflowX": "auto", "maxWidth": "100%"},
                style_cell={
                    "fontSize": "0.82rem",
                    "padding": "4px",
                    "textAlign": "left",
                    "whiteSpace": "normal",
                    "maxWidth": "360px",
                },
                style_data_conditional=[
                    {"if": {"filter_query": '{kind} = "arbitrage"'}, "backgroundColor": "#f3f6fb"},
                ],
            ),
            html.Div(id="bets-note", className="small text-muted mt-1"),
            dbc.Button(
                "Download CSV", id="bets-csv", size="sm", color="secondary", className="mt-2"
            ),
            dcc.Download(id="bets-download"),
            dcc.Interval(id="bets-refresh", interval=refresh_ms()),
        ]
    )


def _read(values: tuple[Any, ...], tz_name: str | None, limit: int = 500) -> tuple[Any, ...]:
    tz = zone(tz_name, default_zone())
    state, strategy, book, market, start, end = values
    f = bet_filter(state, strategy, book, market, start, end, tz, list(ALL_STRATEGIES))
    now = page_now()
    with get_db().session() as session:
        page = bets(session, f, now, limit=limit)
        books = bet_books(session)
    return page, books, tz, now


@callback(
    Output("bets-table", "data"),
    Output("bets-totals", "children"),
    Output("bets-note", "children"),
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
    """The filtered bets, their totals (one SQL aggregate) and the books seen."""
    page, books, tz, now = _read((state, strategy, book, market, start, end), tz_name)
    note = (
        f"Showing the newest {len(page.rows)} of {page.totals.bets} bets; narrow the filters "
        "to see older ones (the totals count them all)."
        if page.truncated
        else ""
    )
    # the table has no export of its own (the CSV button neutralises its cells)
    rows = bet_rows(page.rows, tz, now)
    return rows, totals_line(page.totals), note, book_options(books)


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
    page, _books, tz, now = _read(values, tz_name, limit=CSV_LIMIT)
    return csv_download("bets", COLUMNS, bet_rows(page.rows, tz, now), now)
