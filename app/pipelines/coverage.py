"""Which strategies can fire with the configured sources, and why the others are idle.

A read for `dugout status` and the pages: RLM and sharp action need betting splits (tickets %
and money %), which The Odds API does not carry; without a splits source they stay idle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from app.pipelines.strategies import ALL_STRATEGIES

WHY = {
    "splits": "no splits source is configured (set DUGOUT_SPLITS_SOURCE to a JSON or CSV feed "
    "of tickets % and money %)",
    "quotes": "no source gives prices",
}


@dataclass(frozen=True, slots=True)
class StrategyReadiness:
    """One strategy: whether the sources give what it needs, and if not, why."""

    strategy: str
    active: bool
    needs: tuple[str, ...]
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


def strategy_coverage(provided: Iterable[str]) -> list[StrategyReadiness]:
    """Every strategy with its verdict for sources that together provide `provided`."""
    have = frozenset(provided)
    out = []
    for name, cls in ALL_STRATEGIES.items():
        missing = sorted(cls.needs - have)
        reason = "; ".join(WHY.get(kind, f"no source gives {kind}") for kind in missing) or None
        out.append(StrategyReadiness(name, not missing, tuple(sorted(cls.needs)), reason))
    return out
