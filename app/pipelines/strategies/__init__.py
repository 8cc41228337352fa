"""The analysis strategies, by name; build them from one StrategyConfig."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from app.pipelines.strategies.arbitrage import Arbitrage
from app.pipelines.strategies.base import Strategy, StrategyConfig
from app.pipelines.strategies.ev import PositiveEV
from app.pipelines.strategies.reverse_line_movement import ReverseLineMovement
from app.pipelines.strategies.sharp_action import SharpAction
from app.pipelines.strategies.stale_line import StaleLine
from app.pipelines.strategies.steam import Steam

ALL_STRATEGIES: Mapping[str, type[Strategy]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (PositiveEV, Arbitrage, Steam, StaleLine, ReverseLineMovement, SharpAction)
    }
)


def build_strategies(
    config: StrategyConfig | None = None, names: Iterable[str] | None = None
) -> list[Strategy]:
    """Instantiate the named strategies (all of them by default) sharing one config."""
    wanted = list(ALL_STRATEGIES) if names is None else list(names)
    unknown = [n for n in wanted if n not in ALL_STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; known: {', '.join(ALL_STRATEGIES)}")
    config = config or StrategyConfig()
    return [ALL_STRATEGIES[n](config) for n in wanted]


__all__ = [
    "ALL_STRATEGIES",
    "Arbitrage",
    "PositiveEV",
    "ReverseLineMovement",
    "SharpAction",
    "StaleLine",
    "Steam",
    "Strategy",
    "StrategyConfig",
    "build_strategies",
]
