"""Odds: per game a books x (moneyline, run line, total) grid with the best price per side,
the sharp consensus fair price, each book's hold and the move since open; a game's line
history a click away. Refreshing replaces the cards in place and keeps the chosen game."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html

from app.dashboard import default_zone, keep_view, page_now, refresh_ms
from app.db import get_db
from app.pipelines.sources.demo import DemoSource
from app.pipelines.sources.odds_api import OddsApiSource
from app.queries.odds import MARKETS, line_history, odds_boards
from components.figures import chart, figure_store
from components.formatting import market_name, matchup, zone
from components.odds import boards_view, history_figure

dash.register_page(
    __name__, path="/odds", name="Odds", order=25, min_role="viewer", title="Odds · Dugout"
)
SHARP_BOOKS = DemoSource.sharp_books | OddsApiSource.sharp_books


def layout(game: Any = None, **_: Any) -> html.Div:
    """The line history (for the game in the address: a card's link sets it, so a refresh
    or a reload keeps it), then every game's card."""
    game = game if isinstance(game, str) and 0 < len(game) <= 64 else None
    return html.Div(
        [
            html.H1("Odds", className="h3"),
            html.P(
                "Best price per side in bold; the fair price is the devigged sharp consensus "
                "at the line most books quote; hold is each book's margin on its own line; "
                "'open' is the book's first quote when it has moved since.",
                className="small text-muted",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Line history", html_for="odds-game", className="small mb-0"),
                            dcc.Dropdown(
                                id="odds-game",
                                options=[{"label": game, "value": game}] if game else [],
                                value=game,
                                placeholder="choose a game",
                            ),
                        ],
                        xs=12,
                        md=6,
                    ),
                    dbc.Col(
                        dbc.RadioItems(
                            id="odds-market",
                            options=[{"label": market_name(m), "value": m} for m in MARKETS],
                            value="h2h",
                            inline=True,
                            className="small mt-md-4",
                        ),
                        xs=12,
                        md=6,
                    ),
                ],
                className="g-2",
            ),
            chart("odds-history"),
            html.Div(id="odds-boards"),
            dcc.Interval(id="odds-refresh", interval=refresh_ms()),
        ]
    )


@callback(
    Output("odds-boards", "children"),
    Output("odds-game", "options"),
    Input("odds-refresh", "n_intervals"),
    Input("display-tz", "value"),
)
def refresh_boards(_n: int | None, tz_name: Any) -> tuple[Any, Any]:
    """Every game around now, its books' current and opening prices, best and fair prices."""
    now = page_now()
    tz = zone(tz_name, default_zone())
    with get_db().session() as session:
        boards = odds_boards(session, now, SHARP_BOOKS)
    options = [
        {
            "label": matchup(b.away, b.home, short=True) + f" {b.commence_time:%m-%d}",
            "value": b.game_key,
        }
        for b in boards
    ]
    return boards_view(boards, tz, now), options


keep_view("odds-history")


@callback(
    Output(figure_store("odds-history"), "data"),
    Input("odds-game", "value"),
    Input("odds-market", "value"),
    Input("display-tz", "value"),
    State("odds-game", "options"),
)
def draw_history(game: Any, market: Any, tz_name: Any, options: Any) -> Any:
    """The chosen game's stored quotes on one market, every book, from open to now."""
    tz = zone(tz_name, default_zone())
    market = market if market in MARKETS else "h2h"
    if not isinstance(game, str) or len(game) > 64:
        return history_figure([], market, "Line history", tz)
    with get_db().session() as session:
        points = line_history(session, game, market)
    labels = {o.get("value"): o.get("label") for o in options or [] if isinstance(o, dict)}
    title = f"{labels.get(game, game)}: {market_name(market)}"
    fig = history_figure(points, market, title, tz)
    fig.update_layout(uirevision=f"{game}|{market}")  # zoom and hidden books survive refreshes
    return fig
