"""Odds screen widgets: one card per game with a books x (moneyline, run line, total) table,
the best price on each side highlighted, the sharp fair price, each book's hold and the move
since the book's first quote; and a game's line history chart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from app.pipelines.odds import decimal_to_american
from app.queries.odds import MARKETS, SIDES, BookPrice, GameBoard, HistoryPoint, MarketBoard
from components.figures import PALETTE, _base, empty_figure
from components.formatting import (
    DASH,
    american,
    book_name,
    market_name,
    matchup,
    percent,
    relative_time,
    timestamp,
)


def _side_title(market: str, side: str, board: GameBoard) -> str:
    if side in ("over", "under"):
        return side.title()
    return board.home if side == "home" else board.away


def _point(market: str, point: float | None) -> str:
    """A line as bettors write it: run lines signed ('+1.5 '), totals plain ('8.5 ')."""
    if point is None:
        return ""
    return f"{point:+g} " if market == "spreads" else f"{point:g} "


def _move(p: BookPrice, market: str = "") -> str:
    """The change since the book's first quote: 'open +140' or 'open 8.5'."""
    if p.point != p.open_point and p.open_point is not None:
        return f"open {_point(market, p.open_point)}{american(p.open_price)}"
    if p.price != p.open_price:
        return f"open {american(p.open_price)}"
    return ""


def _cell(board: MarketBoard, book: str, side: str) -> html.Td:
    price = board.prices.get((book, side))
    if price is None:
        return html.Td(DASH, className="text-muted text-center")
    best = board.best.get(side)
    is_best = (
        best is not None
        and price.price == best[0]
        and book in best[1]
        and (board.market == "h2h" or _line_of(price) == board.line)
    )
    point = _point(board.market, price.point)
    move = _move(price, board.market)
    return html.Td(
        [
            html.Span(f"{point}{american(price.price)}", className="fw-bold" if is_best else ""),
            html.Div(move, className="odds-move small text-muted") if move else None,
        ],
        className="odds-best text-center" if is_best else "text-center",
        title="best price on this side" if is_best else None,
    )


def _line_of(price: BookPrice) -> float | None:
    if price.point is None:
        return None
    return -price.point + 0.0 if price.side == "away" and price.point is not None else price.point


def _fair_cell(board: MarketBoard | None, side: str) -> html.Td:
    if board is None or side not in board.fair:
        return html.Td(DASH, className="text-muted text-center")
    p = board.fair[side]
    return html.Td(
        american(decimal_to_american(1 / p)) if 0 < p < 1 else DASH,
        className="text-center fst-italic",
        title=f"{percent(p)} fair, {board.consensus}",
    )


def game_card(board: GameBoard, tz: ZoneInfo, now: datetime) -> dbc.Card:
    """A game's books x markets table with best prices, fair prices, holds and moves."""
    header = [html.Th("Book")]
    for market in MARKETS:
        for side in SIDES[market]:
            header.append(
                html.Th(
                    [market_name(market), html.Br(), _side_title(market, side, board)],
                    className="text-center",
                )
            )
        header.append(html.Th([market_name(market), html.Br(), "hold"], className="text-center"))
    rows = []
    for book in board.books:
        cells: list[Any] = [html.Th(book_name(book), scope="row")]
        for market in MARKETS:
            m = board.markets.get(market)
            for side in SIDES[market]:
                cells.append(_cell(m, book, side) if m else html.Td(DASH))
            hold = m.holds.get(book) if m else None
            cells.append(html.Td(percent(hold), className="text-center small text-muted"))
        rows.append(html.Tr(cells))
    fair: list[Any] = [html.Th("Fair (sharp)", scope="row")]
    for market in MARKETS:
        m = board.markets.get(market)
        for side in SIDES[market]:
            fair.append(_fair_cell(m, side))
        fair.append(html.Td(""))
    rows.append(html.Tr(fair, className="table-light odds-fair"))
    started = board.commence_time <= now
    when = f"{timestamp(board.commence_time, tz)} ({relative_time(board.commence_time, now)})"
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.H2(matchup(board.away, board.home), className="h6 mb-0 me-2"),
                        html.Span(
                            ("started " if started else "") + when, className="small text-muted"
                        ),
                        dcc.Link(
                            "Line history",
                            href=f"/odds?game={quote(board.game_key)}",
                            className="ms-auto small odds-history-link",
                        ),
                    ],
                    className="d-flex flex-wrap align-items-baseline gap-1 mb-1",
                ),
                html.Div(
                    dbc.Table(
                        [html.Thead(html.Tr(header)), html.Tbody(rows)],
                        size="sm",
                        bordered=True,
                        className="mb-0 odds-table",
                    ),
                    className="table-responsive",
                ),
            ]
        ),
        className="mb-2",
        id=f"odds-card-{board.game_key}",
    )


def boards_view(boards: Sequence[GameBoard], tz: ZoneInfo, now: datetime) -> Any:
    """Every game's card, or a sentence saying why there is none."""
    if not boards:
        return html.Div(
            "No games in the next 36 hours have prices yet.",
            className="empty-state text-muted p-4 text-center",
        )
    return [game_card(b, tz, now) for b in boards]


def history_figure(
    points: Sequence[HistoryPoint], market: str, title: str, tz: ZoneInfo
) -> go.Figure:
    """Each book side's price over time (steps: a price holds until the book changes it)."""
    if not points:
        return empty_figure(title, "Choose a game: its stored quotes draw here.")
    fig = _base(title, f"time ({tz.key})", "American odds")
    series: dict[tuple[str, str], list[HistoryPoint]] = {}
    for p in points:
        series.setdefault((p.book, p.side), []).append(p)
    books = sorted({b for b, _ in series})
    for (book, side), pts in sorted(series.items()):
        colour = PALETTE[books.index(book) % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=[p.at.astimezone(tz).replace(tzinfo=None) for p in pts],
                y=[p.price for p in pts],
                customdata=[f"{_point(market, p.point)}{american(p.price)}" for p in pts],
                name=f"{book_name(book)} {side}",
                legendgroup=book,
                mode="lines+markers",
                line={
                    "shape": "hv",
                    "color": colour,
                    "dash": "solid" if side in ("home", "over") else "dot",
                },
                marker={"color": colour, "size": 4},
                hovertemplate="%{x}: %{customdata}<extra>" + f"{book_name(book)} {side}</extra>",
            )
        )
    fig.update_yaxes(tickformat="+d")
    fig.update_layout(height=420)
    return fig
