"""Build a PipelineContext from Settings: the sources and strategies this instance uses."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import ConfigError, Settings, parse_value
from app.pipelines.context import PipelineContext, PipelineSettings, RunObserver, system_clock
from app.pipelines.quota import QuotaPlan
from app.pipelines.resilience import SourceRetryPolicy
from app.pipelines.strategies import StrategyConfig, build_strategies
from app.pipelines.types import DATA_KINDS

STRATEGY_PREFIX = "DUGOUT_STRATEGY_"


def strategy_config_from_env(environ: Mapping[str, str] | None = None) -> StrategyConfig:
    """StrategyConfig defaults overridden by DUGOUT_STRATEGY_<FIELD> (durations in seconds)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    defaults = StrategyConfig()
    for f in fields(StrategyConfig):
        raw = env.get(STRATEGY_PREFIX + f.name.upper())
        if raw is None:
            continue
        default = getattr(defaults, f.name)
        values[f.name] = parse_value(STRATEGY_PREFIX + f.name.upper(), raw, default)
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
            # Results come from the MLB Stats API (free): The Odds API's scores cost credits.
            OddsApiSource(
                api_key=settings.odds_api_key,
                base_url=settings.odds_api_base_url,
                timeout=settings.source_timeout_s,
                scores_days_from=None,
            ),
            MlbStatsApiSource(
                base_url=settings.statsapi_base_url, timeout=settings.source_timeout_s
            ),
            *splits_sources(settings),
        ]
    raise ConfigError(f"unknown source {kind!r}: choose demo or odds_api")


def splits_sources(settings: Settings) -> list[Any]:
    """The configured splits feed, if any (DUGOUT_SPLITS_SOURCE)."""
    if not settings.splits_source:
        return []
    from app.pipelines.sources.splits import SplitsFeedSource

    return [
        SplitsFeedSource(
            settings.splits_source, settings.splits_format, timeout=settings.source_timeout_s
        )
    ]


def provided_kinds(settings: Settings) -> frozenset[str]:
    """What the configured sources provide, without building them (for status and pages)."""
    if settings.source == "demo":
        return frozenset(DATA_KINDS)
    kinds = {"quotes", "schedule", "results"}
    if settings.splits_source:
        kinds.add("splits")
    return frozenset(kinds)


def quota_plan(settings: Settings, sources: Sequence[Any]) -> QuotaPlan | None:
    """The quota plan when a metered source is configured (The Odds API), else None."""
    metered = [s for s in sources if getattr(s, "metered", None)]
    if not metered:
        return None
    try:
        return QuotaPlan(
            monthly_credits=settings.odds_api_monthly_credits,
            reserve_credits=settings.odds_api_reserve_credits,
            reset_day=settings.odds_api_reset_day,
            credits_per_poll=getattr(metered[0], "credits_per_poll", 3),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def build_context(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    clock: Callable[[], datetime] = system_clock,
    sources: Sequence[Any] | None = None,
    observers: Sequence[RunObserver] = (),
    breakers: Any = None,
    alerts: Any = None,
    sleep: Callable[[float], None] | None = None,
) -> PipelineContext:
    """Everything a run needs, from settings; tests pass their own clock and sources.

    `breakers` (per-source circuit breakers) and `alerts` come from the caller, which may use
    the scheduler's database-backed books: the domain imports no scheduler code."""
    built = list(sources) if sources is not None else build_sources(settings, now=clock())
    ctx = PipelineContext(
        sessions=sessions,
        clock=clock,
        settings=PipelineSettings(bankroll_units=settings.bankroll_units),
        sources=built,
        strategies=build_strategies(strategy_config_from_env()),
        observers=observers if isinstance(observers, list) else list(observers),
        breakers=breakers,
        alerts=alerts,
        source_retry=SourceRetryPolicy(),
        quota_plan=quota_plan(settings, built),
    )
    if sleep is not None:
        ctx.sleep = sleep
    return ctx
