"""Build a PipelineContext from Settings: the sources and strategies this instance uses."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import ConfigError, Settings
from app.pipelines.context import PipelineContext, PipelineSettings, RunObserver, system_clock
from app.pipelines.strategies import StrategyConfig, build_strategies

STRATEGY_PREFIX = "DUGOUT_STRATEGY_"


def strategy_config_from_env(environ: Mapping[str, str] | None = None) -> StrategyConfig:
    """StrategyConfig defaults overridden by DUGOUT_STRATEGY_<FIELD> (durations in seconds)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(StrategyConfig):
        raw = env.get(STRATEGY_PREFIX + f.name.upper())
        if raw is None:
            continue
        default = getattr(StrategyConfig(), f.name)
        try:
            if isinstance(default, timedelta):
                values[f.name] = timedelta(seconds=float(raw))
            elif isinstance(default, bool):
                values[f.name] = raw.lower() in {"1", "true", "yes", "on"}
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        except ValueError as exc:
            raise ConfigError(f"{STRATEGY_PREFIX}{f.name.upper()}: {raw!r} is not valid") from exc
    try:
        return StrategyConfig(**values)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


# The demo's last first pitch is 02:10 UTC the night after its official (New York) date.
_DEMO_LAST_FIRST_PITCH = timedelta(hours=26, minutes=10)


def demo_day_for(now: datetime) -> date:
    """The demo slate with markets up at `now`: today's (New York), or tomorrow's once
    today's last game has started."""
    from zoneinfo import ZoneInfo

    today = now.astimezone(ZoneInfo("America/New_York")).date()
    last_pitch = datetime.combine(today, time(0), UTC) + _DEMO_LAST_FIRST_PITCH
    return today if now < last_pitch else today + timedelta(days=1)


def build_sources(
    settings: Settings, source: str | None = None, day: Any = None, now: datetime | None = None
) -> list[Any]:
    """The configured sources: the seeded demo market (around the clock, or on MLB's hours or
    a given `day`), or The Odds API plus MLB Stats API."""
    from app.pipelines.sources.demo import DemoSource

    kind = source or settings.source
    if kind == "demo" and day is None and getattr(settings, "demo_hours", "mlb") == "rolling":
        from app.pipelines.sources.demo_rolling import RollingDemoSource

        return [RollingDemoSource(seed=settings.demo_seed)]
    if kind == "demo":
        return [DemoSource(seed=settings.demo_seed, day=day or demo_day_for(now or system_clock()))]
    if kind == "odds_api":
        from app.pipelines.sources.mlb_statsapi import MlbStatsApiSource
        from app.pipelines.sources.odds_api import OddsApiSource

        if not settings.odds_api_key:
            raise ConfigError("DUGOUT_ODDS_API_KEY is required when DUGOUT_SOURCE=odds_api")
        return [
            OddsApiSource(
                api_key=settings.odds_api_key,
                base_url=settings.odds_api_base_url,
                timeout=settings.source_timeout_s,
            ),
            MlbStatsApiSource(
                base_url=settings.statsapi_base_url, timeout=settings.source_timeout_s
            ),
        ]
    raise ConfigError(f"unknown source {kind!r}: choose demo or odds_api")


def build_context(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    clock: Callable[[], datetime] = system_clock,
    sources: Sequence[Any] | None = None,
    observers: Sequence[RunObserver] = (),
) -> PipelineContext:
    """Everything a run needs, from settings; tests pass their own clock and sources."""
    return PipelineContext(
        sessions=sessions,
        clock=clock,
        settings=PipelineSettings(bankroll_units=settings.bankroll_units),
        sources=list(sources) if sources is not None else build_sources(settings, now=clock()),
        strategies=build_strategies(strategy_config_from_env()),
        observers=observers if isinstance(observers, list) else list(observers),
    )
