"""Strategy widgets: the performance table's rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.queries.strategies import StrategyPerformance


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "—"


def performance_rows(perf: Sequence[StrategyPerformance]) -> list[dict[str, Any]]:
    """StrategyPerformance records as table rows."""
    return [
        {
            "strategy": p.strategy,
            "bets": p.bets,
            "W-L-P": f"{p.wins}-{p.losses}-{p.pushes}",
            "units": round(p.units, 2),
            "staked": round(p.staked, 2),
            "ROI": _pct(p.roi),
            "hit rate": _pct(p.hit_rate),
            "avg CLV": _pct(p.avg_clv),
        }
        for p in perf
    ]
