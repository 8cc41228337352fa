"""The Odds API v4 payloads (odds and scores) -> Games, Quotes and Scores, bad rows quarantined."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from app.pipelines.teams import canonical_team
from app.pipelines.types import SIDES_BY_MARKET, Game, Quote, Score
from app.pipelines.validation import (
    BOOK_KEY_MAX,
    DEFAULT_FUTURE_TOLERANCE,
    EVENT_ID_MAX,
    Parsed,
    RowChecker,
    RowError,
    check_american,
    check_count,
    check_identifier,
    check_point,
    check_team,
    check_text,
    check_timestamp,
    make_game_key,
    official_date,
    payload_rows,
)

_TOTAL_SIDES = {"over": "over", "under": "under"}


class _Event(NamedTuple):
    """A validated event header."""

    row: dict[str, Any]
    event_id: str
    home: str
    away: str
    commence: datetime


def parse_odds(
    payload: Any,
    *,
    source: str,
    now: datetime,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    known_keys: Mapping[str, str] | None = None,
) -> Parsed:
    """Odds (american format) -> Games and Quotes; `known_keys` maps event id -> game key."""
    ctx = RowChecker(source, now, future_tolerance)
    for event, game_key in _games(ctx, payload, "odds payload", known_keys or {}):
        books = event.row.get("bookmakers")
        if not isinstance(books, list):
            bad = RowError("bookmakers", "bookmakers is missing or not a list")
            ctx.reject(bad, _summary(event.row))
            continue
        sides: dict[str, dict[str, str]] = {m: {} for m in SIDES_BY_MARKET}  # name -> side
        for book in books:
            _parse_bookmaker(ctx, event, game_key, book, sides)
    return ctx.parsed


def parse_events(
    payload: Any,
    *,
    source: str,
    now: datetime,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    known_keys: Mapping[str, str] | None = None,
) -> Parsed:
    """`/events` (free of charge) -> Games: ids, teams and commence times, no prices."""
    ctx = RowChecker(source, now, future_tolerance)
    _games(ctx, payload, "events payload", known_keys or {})  # headers are all /events holds
    return ctx.parsed


def parse_odds_scores(
    payload: Any,
    *,
    source: str,
    now: datetime,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    known_keys: Mapping[str, str] | None = None,
) -> Parsed:
    """Scores -> Games and Scores: completed -> final, scores listed -> live, else scheduled."""
    ctx = RowChecker(source, now, future_tolerance)
    for event, game_key in _games(ctx, payload, "scores payload", known_keys or {}):
        try:
            ctx.parsed.scores.append(_score(ctx, event, game_key))
        except RowError as bad:
            ctx.reject(bad, event.row)
    return ctx.parsed


def _summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event without its (large) bookmakers list, for a quarantine record."""
    return {key: value for key, value in event.items() if key != "bookmakers"}


def _games(
    ctx: RowChecker, payload: Any, what: str, known_keys: Mapping[str, str]
) -> list[tuple[_Event, str]]:
    """The valid events with their game keys, each one's Game recorded in `ctx`."""
    events = _events(ctx, payload, what, known_keys)
    ctx.parsed.games.extend(
        Game(key, event.home, event.away, event.commence, event.event_id) for event, key in events
    )
    return events


def _events(
    ctx: RowChecker, payload: Any, what: str, known_keys: Mapping[str, str]
) -> list[tuple[_Event, str]]:
    """Validated event headers with their game keys; a bad header quarantines its event."""
    events: list[_Event] = []
    seen: set[str] = set()
    for row in payload_rows(payload, what):
        if not isinstance(row, dict):
            ctx.reject(RowError("event", f"event is a {type(row).__name__}, not an object"), row)
            continue
        try:
            event_id = check_identifier(row, "id", EVENT_ID_MAX)
            if event_id in seen:
                raise RowError("id", f"event {event_id} appears twice")
            home, away = check_team(row, "home_team"), check_team(row, "away_team")
            if home == away:
                raise RowError("away_team", f"{home} cannot play itself")
            commence = check_timestamp(row.get("commence_time"), "commence_time")
        except RowError as bad:
            ctx.reject(bad, _summary(row))
            continue
        seen.add(event_id)
        events.append(_Event(row, event_id, home, away, commence))
    return list(zip(events, _game_keys(events, known_keys), strict=True))


def _game_keys(events: list[_Event], known_keys: Mapping[str, str]) -> list[str]:
    """Game keys in first-pitch order: the same two teams twice on one date get -2 (doubleheader).

    The Odds API has no game number, so a nightcap listed alone (the opener already started and
    dropped off the feed) is only recognised through `known_keys` from an earlier fetch.
    """
    keys = [""] * len(events)
    counts: dict[str, int] = {}
    for i in sorted(range(len(events)), key=lambda i: events[i].commence):
        event = events[i]
        day = official_date(event.commence)
        base = make_game_key(day, away=event.away, home=event.home)
        counts[base] = number = counts.get(base, 0) + 1
        keys[i] = known_keys.get(event.event_id) or make_game_key(
            day, away=event.away, home=event.home, game_number=number
        )
    return keys


def _parse_bookmaker(
    ctx: RowChecker,
    event: _Event,
    game_key: str,
    book: Any,
    sides: dict[str, dict[str, str]],
) -> None:
    """One bookmaker's markets -> Quotes; `sides` caches validated name -> side per market."""
    where: dict[str, Any] = {"event_id": event.event_id}
    try:
        if not isinstance(book, dict):
            raise RowError("bookmaker", f"bookmaker is a {type(book).__name__}, not an object")
        key = check_identifier(book, "key", BOOK_KEY_MAX)
        book_updated = ctx.recent(book.get("last_update"), "last_update")
        markets = book.get("markets")
        if not isinstance(markets, list):
            raise RowError("markets", f"{key} markets is missing or not a list")
    except RowError as bad:
        ctx.reject(bad, {**where, "bookmaker": book})
        return
    where["bookmaker"] = key
    seen_markets: set[str] = set()
    for market in markets:
        try:
            name, updated, outcomes = _market_header(ctx, key, market, book_updated, seen_markets)
        except RowError as bad:
            ctx.reject(bad, {**where, "market": market})
            continue
        seen_sides: set[str] = set()
        for outcome in outcomes:
            try:
                quote = _outcome(event, game_key, key, name, updated, outcome, sides)
                if quote.side in seen_sides:
                    raise RowError("name", f"{key} {name} quotes the {quote.side} side twice")
            except RowError as bad:
                ctx.reject(bad, {**where, "market": name, "outcome": outcome})
                continue
            seen_sides.add(quote.side)
            ctx.parsed.quotes.append(quote)


def _market_header(
    ctx: RowChecker, book: str, market: Any, book_updated: datetime, seen: set[str]
) -> tuple[str, datetime, list[Any]]:
    """A market's key, its last_update (the bookmaker's when absent) and its outcomes list."""
    if not isinstance(market, dict):
        raise RowError("market", f"market is a {type(market).__name__}, not an object")
    name = market.get("key")
    if type(name) is not str or name not in SIDES_BY_MARKET:
        name = check_text(market, "key")  # names the problem when the key is not even text
        raise RowError("key", f"market {name!r} is not one Dugout reads (h2h, spreads, totals)")
    if name in seen:
        raise RowError("key", f"{book} quotes {name} twice for one event")
    raw = market.get("last_update")
    updated = book_updated if raw is None else ctx.recent(raw, "last_update")
    outcomes = market.get("outcomes")
    if not isinstance(outcomes, list):
        raise RowError("outcomes", f"{book} {name} outcomes is missing or not a list")
    seen.add(name)
    return name, updated, outcomes


def _outcome(
    event: _Event,
    game_key: str,
    book: str,
    market: str,
    updated: datetime,
    outcome: Any,
    sides: dict[str, dict[str, str]],
) -> Quote:
    """One outcome -> Quote: side from the name, price and (spreads/totals) point checked.

    Hot path (thousands per fetch): names already validated for this event, whole prices in
    100..9900 and ordinary lines skip the full checks, which run only when those fail.
    """
    if type(outcome) is not dict:
        raise RowError("outcome", f"outcome is a {type(outcome).__name__}, not an object")
    name = outcome.get("name")
    known = sides[market]
    side = known.get(name) if type(name) is str else None
    if side is None:
        name = check_text(outcome, "name")
        side = known[name] = _side(event, market, name)
    price = outcome.get("price")
    if type(price) is not int or not 100 <= abs(price) <= 9900:
        price = check_american(price)
    point = None
    if market != "h2h":
        point = outcome.get("point")
        if type(point) is not float or not (
            -15 <= point <= 15 if market == "spreads" else 0 < point <= 30
        ):
            point = check_point(point, market)
    return Quote(game_key, market, side, book, price, point, updated)


def _side(event: _Event, market: str, name: str) -> str:
    """The side an outcome name stands for: over/under for totals, else home/away."""
    if market != "totals":
        return _team_side(event, name)
    side = _TOTAL_SIDES.get(name.strip().casefold())
    if side is None:
        raise RowError("name", f"totals outcome {name!r} is neither Over nor Under")
    return side


def _team_side(event: _Event, name: str) -> str:
    """'home' or 'away' for an outcome naming one of the event's teams."""
    team = canonical_team(name)
    if team is None:
        raise RowError("name", f"{name!r} is not a known MLB team")
    if team == event.home:
        return "home"
    if team == event.away:
        return "away"
    raise RowError("name", f"{name!r} is not playing in {event.away}@{event.home}")


def _score(ctx: RowChecker, event: _Event, game_key: str) -> Score:
    """The Score for one scores event."""
    completed = event.row.get("completed")
    if not isinstance(completed, bool):
        raise RowError("completed", f"completed {completed!r} is not true or false")
    if event.row.get("last_update") is not None:
        ctx.recent(event.row["last_update"], "last_update")
    listed = event.row.get("scores")
    if listed is None:
        if completed:
            raise RowError("scores", "a completed game has no scores")
        return Score(game_key, "scheduled", None, None)
    if not isinstance(listed, list):
        raise RowError("scores", f"scores is a {type(listed).__name__}, not a list")
    runs: dict[str, int] = {}
    for entry in listed:
        if not isinstance(entry, dict):
            raise RowError("scores", "a score entry is not an object")
        side = _team_side(event, check_text(entry, "name"))
        raw = entry.get("score")
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)  # the API sends runs as a string
        runs[side] = check_count(raw, "score")
    if set(runs) != {"home", "away"}:
        raise RowError("scores", "scores do not list both teams")
    return Score(game_key, "final" if completed else "live", runs["home"], runs["away"])
