"""One place for formats: odds signs, zones, relative times, units, names, thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.config import ConfigError, load_settings
from app.pipelines.strategies.base import StrategyConfig
from components.formatting import (
    DASH,
    american,
    book_name,
    book_options,
    duration,
    market_name,
    matchup,
    percent,
    points,
    relative_time,
    side_label,
    threshold_rows,
    timestamp,
    units,
    zone,
    zone_options,
)

NOW = datetime(2026, 12, 1, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("price", "text"), [(104, "+104"), (100, "+100"), (-110, "-110"), (166.0, "+166"), (None, DASH)]
)
def test_american_odds_carry_their_sign(price, text) -> None:
    assert american(price) == text


def test_one_short_timestamp_in_the_chosen_zone() -> None:
    assert timestamp(NOW) == "2026-12-01 14:05 UTC"
    assert timestamp(NOW, zone("America/New_York")) == "2026-12-01 09:05 EST"
    assert timestamp(NOW, zone("America/Los_Angeles")) == "2026-12-01 06:05 PST"
    summer = datetime(2026, 7, 4, 23, 10, tzinfo=UTC)
    assert timestamp(summer, zone("America/New_York")) == "2026-07-04 19:10 EDT"
    assert timestamp(NOW.replace(tzinfo=None)) == "2026-12-01 14:05 UTC"  # naive is UTC
    assert timestamp(None) == DASH


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "", None, "Nope/Zone", "x" * 300])
def test_a_zone_the_browser_sends_falls_back(hostile) -> None:
    assert str(zone(hostile, "America/Chicago")) == "America/Chicago"
    assert str(zone(hostile, "bad")) == "UTC"


def test_zone_options_include_the_default() -> None:
    values = [o["value"] for o in zone_options("Europe/London")]
    assert values[0] == "Europe/London" and "America/New_York" in values and "UTC" in values
    assert [o["value"] for o in zone_options("America/New_York")].count("America/New_York") == 1


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=10), "just now"),
        (timedelta(minutes=3), "3 min ago"),
        (timedelta(minutes=59), "59 min ago"),
        (timedelta(hours=2, minutes=10), "2 h ago"),
        (timedelta(days=3), "3 d ago"),
        (-timedelta(minutes=30), "in 30 min"),
        (-timedelta(hours=5), "in 5 h"),
    ],
)
def test_relative_times(delta, text) -> None:
    assert relative_time(NOW - delta, NOW) == text


def test_amounts_with_their_units() -> None:
    assert percent(0.041) == "4.1%" and percent(0.041, signed=True) == "+4.1%"
    assert percent(-0.0667, 2, signed=True) == "-6.67%" and percent(None) == DASH
    assert units(1.25) == "1.25 u" and units(-1.0, signed=True) == "-1.00 u"
    assert units(0.5, signed=True) == "+0.50 u"
    assert points(0.5) == "+0.5 pt" and points(-1.0) == "-1 pt"
    assert duration(timedelta(minutes=5)) == "5 min" and duration(90) == "90 s"


def test_names_for_people() -> None:
    assert book_name("williamhill_us") == "Caesars" and book_name("betonlineag") == "BetOnline.ag"
    assert book_name("somebook") == "somebook"
    assert [o["label"] for o in book_options(["williamhill_us", "betmgm", "betmgm"])] == [
        "BetMGM",
        "Caesars",
    ]
    assert market_name("spreads") == "Run line" and market_name("h2h") == "Moneyline"
    assert matchup("BOS", "SEA") == "Boston Red Sox @ Seattle Mariners"
    assert matchup("BOS", "SEA", short=True) == "BOS @ SEA"
    assert side_label("spreads", "away", -1.5, "SEA", "KC") == "KC -1.5"
    assert side_label("h2h", "home", None, "SEA", "KC") == "SEA ML"
    assert side_label("totals", "over", 8.5) == "Over 8.5"
    assert side_label("totals", "all", 8.5) == "both sides 8.5"


def test_thresholds_read_as_sentences_with_units() -> None:
    from dataclasses import asdict

    rows = {r["key"]: r for r in threshold_rows(asdict(StrategyConfig()))}
    assert (rows["ev_min"]["setting"], rows["ev_min"]["value"]) == ("EV at least", "2%")
    assert rows["steam_window"]["value"] == "5 min"
    assert rows["stale_window"]["value"] == "2 min"
    assert rows["arb_min_profit"]["value"] == "0.5%"
    assert rows["kelly_cap"]["value"] == "2% of bankroll"
    assert not any("timedelta" in r["value"] or "0:05:00" in r["value"] for r in rows.values())


def test_display_zone_setting() -> None:
    assert load_settings(environ={}).display_tz == "America/New_York"
    assert load_settings(environ={"DUGOUT_DISPLAY_TZ": "UTC"}).display_tz == "UTC"
    with pytest.raises(ConfigError, match="DUGOUT_DISPLAY_TZ"):
        load_settings(environ={"DUGOUT_DISPLAY_TZ": "Mars/Olympus"})
