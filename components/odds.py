"""Odds screen widgets: one card per game with a books x (moneyline, run line, total) table,
the best price on each side highlighted, the sharp fair price, each book's hold and the move
since the book's first quote; and a game's line history chart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import dash_ag_grid as dag
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


def _is_best(board: MarketBoard, price: BookPrice) -> bool:
    best = board.best.get(price.side)
    return (
        best is not None
        and price.price == best[0]
        and price.book in best[1]
        and (board.market == "h2h" or _line_of(price) == board.line)
    )


def _line_of(price: BookPrice) -> float | None:
    if price.point is None:
        return None
    return -price.point + 0.0 if price.side == "away" and price.point is not None else price.point


def _fair(board: MarketBoard | None, side: str) -> str:
    if board is None or side not in board.fair:
        return DASH
    p = board.fair[side]
    return american(decimal_to_american(1 / p)) if 0 < p < 1 else DASH


def _rows(board: GameBoard) -> list[dict[str, Any]]:
    """One row per book (its price on each side, the move since open, its hold), then the
    sharp fair price. `<column>_best` marks the best price on that side (bold, tinted)."""
    rows: list[dict[str, Any]] = []
    for book in board.books:
        row: dict[str, Any] = {"book": book_name(book)}
        for market in MARKETS:
            m = board.markets.get(market)
            for side in SIDES[market]:
                key = f"{market}_{side}"
                price = m.prices.get((book, side)) if m else None
                if price is None:
                    row[key] = DASH
                    continue
                move = _move(price, market)
                row[key] = f"{_point(market, price.point)}{american(price.price)}" + (
                    f" · {move}" if move else ""
                )
                row[f"{key}_best"] = m is not None and _is_best(m, price)
            hold = m.holds.get(book) if m else None
            row[f"{market}_hold"] = percent(hold)
        rows.append(row)
    fair: dict[str, Any] = {"book": "Fair (sharp)", "fair": True}
    for market in MARKETS:
        m = board.markets.get(market)
        for side in SIDES[market]:
            fair[f"{market}_{side}"] = _fair(m, side)
        fair[f"{market}_hold"] = ""
    rows.append(fair)
    return rows


# A column's width from its longest text, measured here instead of by the grid: AG Grid's
# autoSize measures every cell in the DOM (getBoundingClientRect, a forced layout per column),
# which on a day's slate of 24 boards was about 1.3 s of Chromium's main thread per render.
# Prices are digits and signs: at 0.82rem, DejaVu Sans (Debian's system-ui) measured 7.2 px a
# character in Chromium and 7.9 bold (a best price); narrower in the other systems' UI fonts.
CHAR_PX = 8.0
CELL_PAD_PX = 22  # the cell's padding on both sides and its border


def _column_defs(board: GameBoard, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Book, then per market a group of its sides and the hold; each column as wide as its
    longest cell or header."""

    def width(field: str, header: str, minimum: int = 56) -> int:
        longest = max([len(header), *(len(str(r.get(field, ""))) for r in rows)])
        return max(minimum, round(longest * CHAR_PX) + CELL_PAD_PX)

    defs: list[dict[str, Any]] = [
        {
            "field": "book",
            "headerName": "Book",
            "pinned": "left",
            "width": width("book", "Book", 96),
        }
    ]
    for market in MARKETS:
        children: list[dict[str, Any]] = []
        for side in SIDES[market]:
            field, header = f"{market}_{side}", _side_title(market, side, board)
            children.append(
                {
                    "field": field,
                    "headerName": header,
                    "cellClassRules": {"odds-best": f"params.data.{field}_best"},
                    "width": width(field, header, 96),
                }
            )
        children.append(
            {
                "field": f"{market}_hold",
                "headerName": "hold",
                "cellClass": "text-muted",
                "width": width(f"{market}_hold", "hold"),
            }
        )
        defs.append({"headerName": market_name(market), "children": children})
    return defs


def game_card(board: GameBoard, tz: ZoneInfo, now: datetime) -> dbc.Card:
    """A game's books x markets grid with best prices, fair prices, holds and moves. One
    AG Grid per game: the grid draws its cells itself, where a table of html components
    costs the Dash renderer a component per cell (thousands on a full slate)."""
    started = board.commence_time <= now
    rows = _rows(board)
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
                dag.AgGrid(
                    columnDefs=_column_defs(board, rows),
                    rowData=rows,
                    defaultColDef={"sortable": False, "resizable": True, "minWidth": 56},
                    rowClassRules={"odds-fair": "params.data.fair"},
                    dashGridOptions={
                        "domLayout": "autoHeight",
                        "suppressCellFocus": True,
                        "enableCellTextSelection": True,
                        "ensureDomOrder": True,
                        "suppressColumnVirtualisation": True,
                        "animateRows": False,
                    },
                    className="dugout-grid odds-table",
                    style={"width": "100%"},
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
