"""Opportunity widgets: the live table's rows in percent and seconds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.queries.opportunities import OpportunityView


def opportunity_rows(found: Sequence[OpportunityView]) -> list[dict[str, Any]]:
    """Rows of the live table: EV and Kelly in percent, latency in seconds, times to the second."""
    return [
        {
            "detected_at": o.detected_at.isoformat(timespec="seconds"),
            "game": o.game,
            "market": o.market,
            "side": o.side,
            "point": o.point,
            "book": o.book,
            "price": o.price,
            "fair_price": o.fair_price,
            "ev_pct": round(o.ev * 100, 2),
            "kelly_pct": round(o.kelly_fraction * 100, 2),
            "strategy": o.strategy,
            "latency_s": round(o.latency_s, 3),
            "explanation": o.explanation,
        }
        for o in found
    ]
