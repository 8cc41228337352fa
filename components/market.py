"""The market pill every page shows: open or closed, the next first pitch, why nothing is due."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from app.queries.market import MarketView


def _until(moment: datetime, now: datetime) -> str:
    minutes = max(0, int((moment - now).total_seconds() // 60))
    if minutes < 60:
        return f"in {minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"in {hours} h {rest:02d}" if hours < 24 else f"in {hours // 24} d {hours % 24} h"


def market_pill(view: MarketView | None, now: datetime) -> Any:
    """A small badge: open with the next first pitch, or closed with when lines go up; the
    reason in its tooltip and for screen readers."""
    if view is None:
        return html.Span()
    head = "Market open" if view.is_open else "Market closed"
    parts: list[str] = []
    if view.is_open and view.next_first_pitch is not None:
        pitch = view.next_first_pitch
        parts.append(f"next first pitch {pitch:%H:%M} UTC ({_until(pitch, now)})")
    elif view.opens_at is not None:
        parts.append(f"lines up {view.opens_at:%a %H:%M} UTC ({_until(view.opens_at, now)})")
    elif not view.is_open:
        parts.append("no games scheduled")
    if view.in_play:
        parts.append(f"{view.in_play} in play")
    detail = "".join(f" · {p}" for p in parts)
    return dbc.Badge(
        [  # a phone or a laptop shows the state alone; the details on a wide screen
            head,
            html.Span(detail, className="d-none d-xxl-inline"),
            html.Span(f". {view.reason}", className="visually-hidden"),
        ],
        color="success" if view.is_open else "secondary",
        pill=True,
        className=f"me-2 market-pill market-{view.status}",
        title=view.reason[:1].upper() + view.reason[1:],
        id="market-pill",
    )
