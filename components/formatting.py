"""Every number and time a page shows, formatted in one place: one short timestamp format in
the viewer's time zone plus relative times, American odds with their sign, percentages and
units with their unit, book and market display names, team names, thresholds with units."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from app.pipelines.strategies.base import BOOK_TITLES
from app.pipelines.teams import TEAMS

DASH = "—"  # a value that does not exist (never 0, never blank)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M %Z"  # the one short format: sorts, says its zone
PRECISE_FORMAT = "%Y-%m-%d %H:%M:%S.{ms} %Z"  # the same to the millisecond (a run's facts, logs)
# Zones offered in the picker: the US clubs' four, Arizona (no daylight saving), Toronto, UTC.
ZONE_CHOICES: tuple[tuple[str, str], ...] = (
    ("America/New_York", "Eastern"),
    ("America/Chicago", "Central"),
    ("America/Denver", "Mountain"),
    ("America/Phoenix", "Arizona"),
    ("America/Los_Angeles", "Pacific"),
    ("America/Toronto", "Toronto"),
    ("UTC", "UTC"),
)
MARKET_NAMES = {"h2h": "Moneyline", "spreads": "Run line", "totals": "Total"}


# --- time ------------------------------------------------------------------------------------


def is_zone(name: object) -> bool:
    """True when `name` is an IANA time zone this machine knows."""
    return isinstance(name, str) and name in _known_zones()


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The zone called `name`, else `default`, else UTC (a browser can send anything)."""
    for candidate in (name, default, "UTC"):
        if is_zone(candidate):
            try:
                return ZoneInfo(str(candidate))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def zone_options(default: str) -> list[dict[str, str]]:
    """The picker's choices, with the instance's default first when it is not one of them."""
    options = [{"label": label, "value": name} for name, label in ZONE_CHOICES]
    if default not in {o["value"] for o in options}:
        options.insert(0, {"label": default.rsplit("/", 1)[-1].replace("_", " "), "value": default})
    return options


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def timestamp(
    value: datetime | str | None, tz: ZoneInfo | None = None, precise: bool = False
) -> str:
    """A moment in the one short format, in `tz` (UTC by default): '2026-12-01 09:05 EST';
    `precise` adds seconds and milliseconds ('2026-12-01 09:05:03.120 EST') where on-call
    work orders events within a minute. An ISO 8601 string is read first."""
    if value is None or value == "":
        return DASH
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment = _aware(value).astimezone(tz or ZoneInfo("UTC"))
    if precise:
        return moment.strftime(PRECISE_FORMAT.format(ms=f"{moment.microsecond // 1000:03d}"))
    return moment.strftime(TIMESTAMP_FORMAT)


def relative_time(value: datetime | None, now: datetime) -> str:
    """How long ago (or how soon) `value` is from `now`: '3 min ago', 'in 2 h', 'just now'."""
    if value is None:
        return DASH
    seconds = (_aware(now) - _aware(value)).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size or unit == "min":
            amount = max(1, int(seconds // size))
            return f"in {amount} {unit}" if ahead else f"{amount} {unit} ago"
    raise AssertionError("unreachable")  # pragma: no cover


def duration(value: timedelta | float) -> str:
    """A duration in the largest whole unit that fits: '5 min', '90 s', '2 h'."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


# --- prices and amounts -----------------------------------------------------------------------


def american(price: int | float | None) -> str:
    """American odds with their sign: '+135', '-110' ('+100' for even money)."""
    if price is None or (isinstance(price, float) and math.isnan(price)):
        return DASH
    return f"{round(price):+d}"


def percent(value: float | None, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage with its sign when asked: 0.041 -> '4.1%' or '+4.1%'."""
    if value is None or math.isnan(value):
        return DASH
    return f"{value * 100:{'+' if signed else ''}.{digits}f}%"


def units(value: float | None, signed: bool = False) -> str:
    """An amount in betting units: '1.25 u' (stakes) or '+1.25 u' (results)."""
    if value is None or math.isnan(value):
        return DASH
    return f"{value:{'+' if signed else ''}.2f} u"


def points(value: float | None, signed: bool = True) -> str:
    """A number of points (run line, total, line CLV): '+0.5 pt'."""
    if value is None or math.isnan(value):
        return DASH
    return f"{value:{'+' if signed else ''}g} pt"


def interval(low: float | None, high: float | None, fmt: Any = percent) -> str:
    """A confidence interval as '[-3.1%, +8.0%]' with each bound in `fmt`."""
    if low is None or high is None:
        return DASH
    return f"[{fmt(low)}, {fmt(high)}]"


# --- names ----------------------------------------------------------------------------------


def book_name(key: str | None) -> str:
    """A book's display name ('williamhill_us' -> 'Caesars'); an unknown key as it came."""
    if not key:
        return DASH
    return BOOK_TITLES.get(key, key)


def book_options(keys: list[str]) -> list[dict[str, str]]:
    """Dropdown choices for the books actually seen, by display name, values the keys."""
    return sorted(
        ({"label": book_name(k), "value": k} for k in set(keys)), key=lambda o: o["label"].lower()
    )


def market_name(market: str) -> str:
    """'h2h' -> 'Moneyline', 'spreads' -> 'Run line', 'totals' -> 'Total'."""
    return MARKET_NAMES.get(market, market)


def team(key: str | None) -> str:
    """A club's full name from its canonical key (the key itself when unknown)."""
    if not key:
        return DASH
    found = TEAMS.get(key)
    return found.name if found else key


def matchup(away: str | None, home: str | None, short: bool = False) -> str:
    """'Boston Red Sox @ Seattle Mariners' (or 'BOS @ SEA')."""
    if short:
        return f"{away or DASH} @ {home or DASH}"
    return f"{team(away)} @ {team(home)}"


def side_label(
    market: str, side: str, point: float | None, home: str | None = None, away: str | None = None
) -> str:
    """What a bettor calls the bet: 'BOS ML', 'NYY -1.5', 'Over 8.5', 'both sides'."""
    if side in ("over", "under"):
        return f"{side.title()} {point:g}" if point is not None else side.title()
    if side == "all":
        return "both sides" if point is None else f"both sides {point:g}"
    name = (home if side == "home" else away if side == "away" else None) or side
    if market == "h2h" or point is None:
        return f"{name} ML"
    return f"{name} {point:+g}"


# --- thresholds -----------------------------------------------------------------------------


def _whole_pct(value: float) -> str:
    """A threshold fraction as a percentage without trailing zeros: 0.02 -> '2%'."""
    return f"{round(value * 100, 6):g}%"


_THRESHOLDS: Mapping[str, tuple[str, Any]] = {
    "ev_min": ("EV at least", _whole_pct),
    "ev_min_books": ("books quoting the market (EV) at least", str),
    "arb_min_profit": ("arbitrage profit at least", _whole_pct),
    "arb_min_books": ("books in an arbitrage at least", str),
    "steam_min_books": ("books moving together (steam) at least", str),
    "steam_window": ("steam window", duration),
    "steam_min_move_cents": ("steam move at least", lambda v: f"{v:g} cents"),
    "steam_min_point_move": ("steam point move at least", lambda v: points(v, signed=False)),
    "stale_window": ("unchanged (stale line) for at least", duration),
    "stale_min_ev": ("stale line EV at least", _whole_pct),
    "rlm_min_tickets_pct": ("public tickets (RLM) at least", lambda v: f"{v:g}%"),
    "rlm_min_books": ("books moving against the public at least", str),
    "rlm_min_move_cents": ("RLM move at least", lambda v: f"{v:g} cents"),
    "rlm_min_point_move": ("RLM point move at least", lambda v: points(v, signed=False)),
    "sharp_min_diff": ("money% minus tickets% at least", lambda v: f"{v:g} points"),
    "sharp_min_tickets": ("tickets on the market at least", str),
    "kelly_fraction": ("Kelly multiplier", lambda v: f"{v:g}x"),
    "kelly_cap": ("stake cap per bet", lambda v: f"{_whole_pct(v)} of bankroll"),
    "devig_method": ("de-vig method", str),
    "consensus_fallback": ("consensus without sharp books", lambda v: v.replace("_", " ")),
}


def threshold_rows(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each setting as a sentence with its unit ('EV at least', '2.0%'), keys kept for search."""
    rows = []
    for key, value in config.items():
        label, fmt = _THRESHOLDS.get(key, (key.replace("_", " "), str))
        rows.append({"setting": label, "value": fmt(value), "key": key})
    return rows
