"""Row checks shared by every source parser, the cross-source game key, and the splits parser.

Every bad row becomes a Rejected (field + reason) and the rest of the payload is kept. The format
parsers built on these checks live next to their clients: `sources.odds_api_format` (The Odds API
odds and scores) and `sources.mlb_format` (MLB Stats API schedule).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.pipelines.teams import TEAMS, canonical_team
from app.pipelines.types import SIDES_BY_MARKET, Game, Quote, Rejected, Score, SourceBatch, Split

NEW_YORK = ZoneInfo("America/New_York")
DEFAULT_FUTURE_TOLERANCE = timedelta(minutes=5)
MIN_IMPLIED_PROBABILITY = 0.01  # longer than +9900: a typo or a placeholder, not a price
MAX_IMPLIED_PROBABILITY = 0.99  # shorter than -9900
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Identifiers from feeds are stored in short key columns: bounded length, a safe alphabet.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
MAX_TEXT = 256  # free text from a feed (team and outcome names); anything longer is hostile
BOOK_KEY_MAX = 32  # quotes.book, recommendations.book
EVENT_ID_MAX = 64  # games.source_ref, game_links.ref
_GAME_KEY = re.compile(r"(\d{4}-\d{2}-\d{2})-([A-Z]{2,3})@([A-Z]{2,3})(?:-([2-9]))?")


class PayloadShapeError(ValueError):
    """The payload as a whole is not the documented shape, so there is no row worth keeping."""


class RowError(Exception):
    """One field of one row failed a check; the row becomes a Rejected."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(slots=True)
class Parsed:
    """What one parser kept and what it quarantined."""

    games: list[Game] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    splits: list[Split] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def add_to(self, batch: SourceBatch) -> None:
        """Append everything to a batch; a game already in the batch is not added twice."""
        known = {game.game_key for game in batch.games}
        batch.games.extend(game for game in self.games if game.game_key not in known)
        batch.quotes.extend(self.quotes)
        batch.scores.extend(self.scores)
        batch.splits.extend(self.splits)
        batch.rejected.extend(self.rejected)


def official_date(commence_time: datetime) -> date:
    """MLB's official date of a game: its first pitch on the America/New_York calendar."""
    return commence_time.astimezone(NEW_YORK).date()


def make_game_key(official: date, *, away: str, home: str, game_number: int = 1) -> str:
    """The cross-source game key, e.g. 2024-07-13-BOS@NYY, with -2 for a doubleheader nightcap."""
    base = f"{official:%Y-%m-%d}-{away}@{home}"
    return base if game_number <= 1 else f"{base}-{game_number}"


def content_hash(payload: Any) -> str:
    """sha256 of the payload as canonical JSON (sorted keys, no whitespace), for idempotency."""
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def american_implied_probability(price: int) -> float:
    """Implied probability of American odds (vig included)."""
    return 100 / (price + 100) if price > 0 else -price / (100 - price)


# --- field checks: each returns a clean value or raises RowError(field, reason) ---------------


def check_text(
    row: Mapping[str, Any], key: str, label: str | None = None, max_len: int = MAX_TEXT
) -> str:
    """A required, non-empty string of at most `max_len` characters, no control characters."""
    name = label or key
    value = row.get(key)
    if value is None:
        raise RowError(name, f"{name} is missing")
    if not isinstance(value, str):
        raise RowError(name, f"{name} must be a string, not {type(value).__name__}")
    if len(value) > max_len:
        raise RowError(name, f"{name} is {len(value)} characters long (at most {max_len})")
    if not value.isprintable():
        for char in value:
            if unicodedata.category(char) in _CONTROL_CATEGORIES:
                raise RowError(name, f"{name} contains the control character U+{ord(char):04X}")
    if not value.strip():
        raise RowError(name, f"{name} is empty")
    return value


def check_identifier(
    row: Mapping[str, Any], key: str, max_len: int, label: str | None = None
) -> str:
    """An identifier (book key, event id): letters, digits and _ . : - only, at most max_len."""
    name = label or key
    value = check_text(row, key, label, max_len)
    if _IDENTIFIER.fullmatch(value) is None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise RowError(name, f"{name} {shown!r} has characters an identifier cannot have")
    return value


def check_team(row: Mapping[str, Any], key: str, label: str | None = None) -> str:
    """A team name from a row, mapped to its canonical key; unknown names are refused."""
    name = check_text(row, key, label)
    team = canonical_team(name)
    if team is None:
        raise RowError(label or key, f"{name!r} is not a known MLB team")
    return team


def check_american(value: Any) -> int:
    """A sane American price: a whole number, not in (-100, +100), implied prob in 0.01..0.99."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError("price", f"price {value!r} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RowError("price", f"price {value!r} is not a finite number")
        if not value.is_integer():
            raise RowError("price", f"price {value!r} is not whole American odds (decimal odds?)")
        value = int(value)
    if value == 0:
        raise RowError("price", "price is zero")
    if -100 < value < 100:
        raise RowError("price", f"price {value:+d} is inside (-100, +100); American odds cannot be")
    implied = american_implied_probability(value)
    if not MIN_IMPLIED_PROBABILITY <= implied <= MAX_IMPLIED_PROBABILITY:
        raise RowError(
            "price", f"price {value:+d} implies probability {implied:.4f}, not plausible"
        )
    return value


def check_number(value: Any, name: str) -> float:
    """A finite real number (bools and numeric strings are refused)."""
    if value is None:
        raise RowError(name, f"{name} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(name, f"{name} {value!r} is not a number")
    if not math.isfinite(value):
        raise RowError(name, f"{name} {value!r} is not a finite number")
    return float(value)


def check_point(value: Any, market: str) -> float:
    """A spreads or totals line within a range baseball can produce."""
    point = check_number(value, "point")
    if market == "totals" and not 0 < point <= 30:
        raise RowError("point", f"total {point} is outside 0..30 runs")
    if market == "spreads" and abs(point) > 15:
        raise RowError("point", f"run line {point:+} is beyond 15 runs")
    return point


def check_percent(row: Mapping[str, Any], key: str) -> float:
    """A percentage in 0..100."""
    pct = check_number(row.get(key), key)
    if not 0 <= pct <= 100:
        raise RowError(key, f"{key} {pct} is outside 0..100")
    return pct


def check_count(value: Any, name: str) -> int:
    """A non-negative whole count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RowError(name, f"{name} {value!r} is not a non-negative whole number")
    return value


def check_game_number(value: Any, name: str) -> int:
    """Game number within a day for the same two teams: 1, or 2 for a doubleheader nightcap."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9:
        raise RowError(name, f"{name} {value!r} is not 1..9")
    return value


def parse_timestamp(value: Any, name: str = "timestamp") -> datetime:
    """An ISO 8601 string (or aware datetime) with a time zone, as aware UTC; ValueError if not."""
    try:
        return check_timestamp(value, name)
    except RowError as bad:
        raise ValueError(bad.reason) from None


def check_timestamp(value: Any, name: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries a zone; naive ones are refused, not assumed."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        check_text({name: value}, name)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise RowError(name, f"{name} {value!r} is not an ISO 8601 timestamp") from None
    elif value is None:
        raise RowError(name, f"{name} is missing")
    else:
        raise RowError(name, f"{name} must be an ISO 8601 string, not {type(value).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RowError(name, f"{name} {value!s} has no time zone")
    return moment.astimezone(UTC)


class RowChecker:
    """Per-parse state: the source name, the freshness limit, a timestamp cache, the rejects."""

    def __init__(
        self,
        source: str,
        now: datetime | None,
        tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    ) -> None:
        self.source = source
        self.limit = None if now is None else now.astimezone(UTC) + tolerance
        self.parsed = Parsed()
        self._cache: dict[str, datetime] = {}

    def reject(self, bad: RowError, payload: Any) -> None:
        """Quarantine one row with the failing field and the reason."""
        row = payload if isinstance(payload, dict) else {"value": payload}
        self.parsed.rejected.append(Rejected(self.source, bad.field, bad.reason, row))

    def recent(self, value: Any, name: str) -> datetime:
        """A source timestamp that is not beyond `now + tolerance` (clocks drift; data cannot)."""
        moment = self._cache.get(value) if type(value) is str else None
        if moment is None:
            moment = check_timestamp(value, name)
            if isinstance(value, str):
                self._cache[value] = moment
        if self.limit is not None and moment > self.limit:
            raise RowError(name, f"{name} {moment.isoformat()} is in the future")
        return moment


def payload_rows(payload: Any, what: str) -> list[Any]:
    """The top-level list of a payload; anything else means the source changed shape."""
    if not isinstance(payload, list):
        raise PayloadShapeError(f"{what} must be a JSON array, not {type(payload).__name__}")
    return payload


# --- betting splits (our own record format) ----------------------------------------------------


def parse_splits(
    records: Any,
    *,
    source: str,
    now: datetime,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
) -> Parsed:
    """Splits records -> Splits; a record names its game by game_key or (home, away, commence)."""
    ctx = RowChecker(source, now, future_tolerance)
    for row in payload_rows(records, "splits payload"):
        try:
            if not isinstance(row, dict):
                raise RowError("split", f"split is a {type(row).__name__}, not an object")
            game_key = _split_game_key(row)
            market = check_text(row, "market")
            if market not in SIDES_BY_MARKET:
                raise RowError("market", f"market {market!r} is not h2h, spreads or totals")
            side = check_text(row, "side").casefold()
            if side not in SIDES_BY_MARKET[market]:
                raise RowError("side", f"side {side!r} does not belong to {market}")
            tickets_pct = check_percent(row, "tickets_pct")
            money_pct = check_percent(row, "money_pct")
            tickets = row.get("tickets")
            tickets = None if tickets is None else check_count(tickets, "tickets")
            as_of = ctx.recent(row.get("as_of"), "as_of")
        except RowError as bad:
            ctx.reject(bad, row)
            continue
        ctx.parsed.splits.append(
            Split(game_key, market, side, tickets_pct, money_pct, tickets, as_of)
        )
    return ctx.parsed


def _split_game_key(row: Mapping[str, Any]) -> str:
    """The game key a splits record names, validated, or built from its teams and first pitch."""
    if row.get("game_key") is not None:
        key = check_text(row, "game_key")
        match = _GAME_KEY.fullmatch(key)
        if match is None or match[2] not in TEAMS or match[3] not in TEAMS:
            raise RowError("game_key", f"game_key {key!r} is not DATE-AWAY@HOME with known teams")
        try:
            date.fromisoformat(match[1])
        except ValueError:
            raise RowError("game_key", f"game_key {key!r} has an impossible date") from None
        return key
    home, away = check_team(row, "home"), check_team(row, "away")
    commence = check_timestamp(row.get("commence_time"), "commence_time")
    number = check_game_number(row.get("game_number", 1), "game_number")
    return make_game_key(official_date(commence), away=away, home=home, game_number=number)
