"""Opportunity widgets: one row per bet with its strategy tags and live state, arbitrage
positions with their legs, profit and stakes, in the viewer's zone with names for people."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.queries.opportunities import ArbitrageView, OpportunityView
from components.formatting import (
    american,
    book_name,
    market_name,
    matchup,
    percent,
    relative_time,
    side_label,
    timestamp,
)

TAG_SEPARATOR = " · "
COLUMNS: tuple[tuple[str, str], ...] = (
    ("bet", "Bet"),
    ("price", "Price"),
    ("book", "Book"),
    ("ev_pct", "EV"),
    ("state", "State"),
    ("tags", "Strategies"),
    ("fair_price", "Fair"),
    ("kelly_pct", "Kelly"),
    ("game", "Game"),
    ("start", "First pitch"),
    ("market", "Market"),
    ("detected", "Detected"),
    ("latency_s", "Latency s"),
    ("explanation", "Why"),
)
ARB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("game", "Game"),
    ("profit", "Profit"),
    ("legs", "Legs (price, book, share of stake)"),
    ("state", "State"),
    ("market", "Market"),
    ("start", "First pitch"),
    ("detected", "Detected"),
)


def _state(live: bool) -> str:
    return "live" if live else "expired"


def opportunity_rows(
    found: Sequence[OpportunityView], tz: ZoneInfo, now: datetime
) -> list[dict[str, Any]]:
    """Rows of the bets table: signed odds, EV and Kelly in percent, names for people."""
    return [
        {
            "bet": side_label(o.market, o.side, o.point, o.home, o.away),
            "price": american(o.price),
            "book": book_name(o.book),
            "ev_pct": percent(o.ev, signed=True),
            "state": _state(o.live),
            "tags": TAG_SEPARATOR.join(o.strategies),
            "fair_price": american(o.fair_price),
            "kelly_pct": percent(o.kelly_fraction, 2),
            "game": matchup(o.away, o.home),
            "start": timestamp(o.commence_time, tz),
            "market": market_name(o.market),
            "detected": f"{timestamp(o.detected_at, tz)} ({relative_time(o.detected_at, now)})",
            "latency_s": round(o.latency_s, 3),
            "explanation": o.explanation,
            "ev": o.ev,  # for the histogram, not a column
        }
        for o in found
    ]


def arbitrage_rows(
    found: Sequence[ArbitrageView], tz: ZoneInfo, now: datetime
) -> list[dict[str, Any]]:
    """One row per arbitrage position: its legs with price, book and share of the stake."""
    return [
        {
            "game": matchup(a.away, a.home),
            "profit": percent(a.profit, 2, signed=True),
            "legs": " / ".join(
                f"{side_label(a.market, leg.side, leg.point, a.home, a.away)} "
                f"{american(leg.price)} {book_name(leg.book)} {percent(leg.stake_share)}"
                for leg in a.legs
            ),
            "state": _state(a.live),
            "market": market_name(a.market),
            "start": timestamp(a.commence_time, tz),
            "detected": f"{timestamp(a.detected_at, tz)} ({relative_time(a.detected_at, now)})",
        }
        for a in found
    ]
