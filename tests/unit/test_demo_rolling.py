"""The always-alive demo market: at any hour of any day games are coming up (with prices), in
play and finishing; same seed and same clock give the same data; MLB's hours stay available."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.config import ConfigError, load_settings
from app.pipelines.build import build_sources
from app.pipelines.sources.demo import DemoSource
from app.pipelines.sources.demo_rolling import RollingDemoSource


@pytest.fixture(scope="module")
def market() -> RollingDemoSource:
    return RollingDemoSource(seed=42)


# Every hour of a winter day and of a summer day (both sides of DST), at odd minutes.
MOMENTS = [
    datetime(2026, month, day, 0, 7, tzinfo=UTC) + timedelta(hours=h, minutes=13 * h % 60)
    for month, day in ((12, 1), (7, 4))
    for h in range(24)
]


@pytest.mark.parametrize("now", MOMENTS, ids=lambda m: m.strftime("%m-%d %H:%M"))
def test_games_are_coming_up_in_play_and_finishing_at_any_hour(market, now) -> None:
    batch = market.fetch(now)
    ts = now.timestamp()
    games = market.games_at(now)
    upcoming = {g.game_key for g in games if g.commence > ts and g.postponed_at is None}
    priced = {q.game_key for q in batch.quotes}
    assert priced & upcoming, "no prices for games coming up"
    assert any(g.commence <= ts < g.ends and g.postponed_at is None for g in games), "none in play"
    assert any(ts - 2 * 3600 <= g.ends <= ts for g in games), "none finished in the last 2 h"
    finals = {s.game_key for s in batch.scores}
    assert {g.game_key for g in games if g.ends <= ts and g.postponed_at is None} <= finals | {
        g.game_key for g in games if g.commence > ts
    }


def test_game_keys_never_collide_across_the_joined_slates(market) -> None:
    for now in MOMENTS[::6]:
        keys = [g.game_key for g in market.games_at(now)]
        assert len(keys) == len(set(keys))


def test_same_seed_and_clock_same_data() -> None:
    now = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    first, again = RollingDemoSource(seed=7).fetch(now), RollingDemoSource(seed=7).fetch(now)
    assert first.raw_hash == again.raw_hash
    assert [(q.game_key, q.book, q.price) for q in first.quotes] == [
        (q.game_key, q.book, q.price) for q in again.quotes
    ]
    assert RollingDemoSource(seed=8).fetch(now).raw_hash != first.raw_hash
    later = RollingDemoSource(seed=7).fetch(now + timedelta(minutes=30))
    assert later.raw_hash != first.raw_hash  # the market moves


def test_demo_hours_setting_picks_the_market() -> None:
    (rolling,) = build_sources(load_settings({}, environ={}))
    assert isinstance(rolling, RollingDemoSource)
    (mlb,) = build_sources(load_settings({}, environ={"DUGOUT_DEMO_HOURS": "mlb"}))
    assert isinstance(mlb, DemoSource) and not mlb.rolling
    with pytest.raises(ConfigError, match="DUGOUT_DEMO_HOURS"):
        load_settings({}, environ={"DUGOUT_DEMO_HOURS": "always"})
