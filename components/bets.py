"""Bets widgets: each recommendation as a table row in the viewer's zone, the totals line,
and the page's columns (key columns first, so a phone sees the bet before the detail)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import html

from app.queries.bets import BET_STATES, BetFilter, BetTotals, BetView, LegView
from components.formatting import (
    DASH,
    MARKET_NAMES,
    american,
    book_name,
    market_name,
    matchup,
    percent,
    points,
    relative_time,
    side_label,
    timestamp,
    units,
)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("bet", "Bet"),
    ("price", "Price"),
    ("stake", "Stake"),
    ("book", "Book"),
    ("state", "Status"),
    ("result", "Result"),
    ("units", "Units"),
    ("clv", "Price CLV"),
    ("line_clv", "Line CLV"),
    ("close", "Close"),
    ("now", "Best now"),
    ("available", "Still offered"),
    ("tags", "Strategies"),
    ("game", "Game"),
    ("start", "First pitch"),
    ("market", "Market"),
    ("legs", "Legs"),
    ("placed", "Placed"),
)
TAG_SEPARATOR = " · "


def leg_text(leg: LegView, market: str, home: str | None, away: str | None) -> str:
    """'Over 8.5 +105 DraftKings 0.99 u'."""
    bet = side_label(market, leg.side, leg.point, home, away)
    return f"{bet} {american(leg.price)} {book_name(leg.book)} {units(leg.stake_units)}"


def _available(value: bool | None) -> str:
    return DASH if value is None else ("yes" if value else "no")


def bet_row(b: BetView, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """One bet as cells: names for people, signed odds, units and percentages with units."""
    arb = b.kind == "arbitrage"
    books = sorted({leg.book for leg in b.legs}) if arb else [b.book]
    return {
        "id": b.id,
        "kind": b.kind,
        "bet": ("Arbitrage " if arb else "")
        + side_label(b.market, b.side, b.point, b.home, b.away),
        # an arbitrage has no one price (its legs carry theirs); the stored figure is the
        # position's combined odds, which reads as nonsense beside a single bet's price
        "price": DASH if arb else american(b.price),
        "stake": units(b.stake_units),
        "book": " + ".join(book_name(k) for k in books),
        "state": b.state,
        "result": b.result or DASH,
        "units": units(b.profit_units, signed=True) if b.profit_units is not None else DASH,
        "clv": percent(b.clv, 2, signed=True),
        "line_clv": points(b.line_clv),
        "close": american(b.close_price),
        "now": (
            f"{american(b.current_price)} {book_name(b.current_book)}"
            if b.current_price is not None
            else DASH
        ),
        "available": _available(b.still_available),
        "tags": TAG_SEPARATOR.join(b.strategies),
        "game": matchup(b.away, b.home),
        "start": timestamp(b.commence_time, tz),
        "market": market_name(b.market),
        "legs": " / ".join(leg_text(leg, b.market, b.home, b.away) for leg in b.legs)
        if arb
        else "",
        "placed": relative_time(b.created_at, now),
    }


def bet_rows(found: Sequence[BetView], tz: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    """Every bet as cells."""
    return [bet_row(b, tz, now) for b in found]


def totals_line(t: BetTotals) -> html.Div:
    """The filtered set in one line: bets, staked, W-L-P, units, ROI, average CLV."""
    facts = [
        ("bets", str(t.bets)),
        ("staked", units(t.staked)),
        ("record", f"{t.wins}-{t.losses}-{t.pushes}"),
        ("units", units(t.units, signed=True)),
        ("ROI", percent(t.roi, signed=True)),
        ("avg CLV", percent(t.avg_clv, 2, signed=True) + (f" ({t.clv_n} bets)" if t.clv_n else "")),
    ]
    return html.Div(
        [
            dbc.Badge(
                [html.Span(f"{label} ", className="fw-normal"), value],
                color="light",
                text_color="dark",
                className="me-2 mb-1 border",
                id=f"bets-total-{label.replace(' ', '-').lower()}",
            )
            for label, value in facts
        ],
        id="bets-totals-line",
    )


def _local_midnight(day: str | None, tz: ZoneInfo) -> datetime | None:
    """Midnight starting `day` (YYYY-MM-DD, as a date picker sends it) in `tz`, or None."""
    if not isinstance(day, str):
        return None
    try:
        parsed = date.fromisoformat(day[:10])
    except ValueError:
        return None
    return datetime.combine(parsed, time(0), tzinfo=tz)


def bet_filter(
    state: Any,
    strategy: Any,
    book: Any,
    market: Any,
    start_date: Any,
    end_date: Any,
    tz: ZoneInfo,
    strategies: Sequence[str],
) -> BetFilter:
    """The page's controls as a filter; anything a browser sends that is not a choice is
    ignored (never an error). Dates are whole days in the viewer's zone, both included."""
    end = _local_midnight(end_date, tz)
    return BetFilter(
        state=state if state in BET_STATES else None,
        strategy=strategy if strategy in strategies else None,
        book=book if isinstance(book, str) and 0 < len(book) <= 32 else None,
        market=market if market in MARKET_NAMES else None,
        start_from=_local_midnight(start_date, tz),
        start_before=end + timedelta(days=1) if end is not None else None,
    )
