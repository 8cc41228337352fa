"""The demo's planned market events and each game's fair-probability path through the day."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from app.pipelines.sources.demo_books import DemoBook
from app.pipelines.sources.demo_calendar import GAMES_PER_ROUND, HOUR, DemoGame

EventKind = Literal[
    "steam",
    "reverse_line_movement",
    "sharp_action",
    "arbitrage",
    "soft_line",
    "bad_row",
    "postponed",
]
# Per slate of 15 games: how many games get each kind of event (each game gets at most one).
EVENTS_PER_ROUND: dict[EventKind, int] = {
    "steam": 4,
    "reverse_line_movement": 2,
    "sharp_action": 2,
    "arbitrage": 3,
    "bad_row": 3,
}
SOFT_LINES_PER_GAME = 3
BAD_ROW_KINDS = ("zero price", "unknown team", "price inside +/-100")
_SIDES = {"h2h": ("home", "away"), "spreads": ("home", "away"), "totals": ("over", "under")}
DRIFT_SD = 0.0025  # fair-probability step of an ordinary move (~1-2 cents; steam is ~25)
MIN_GAP = 60


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """One planned event: what, where, who, and when (epoch seconds; `start`/`end` as datetimes).

    steam: `side` shortens by `size` (fair probability) at start; `book` lags until end.
    reverse_line_movement: `side` holds most tickets while its price drifts longer by `size`.
    sharp_action: `side` takes `size` points more of the money than of the tickets.
    arbitrage: `book` hangs a price on `side` from start to end that, with the best price on the
        other side elsewhere, makes sum(1/d) = 0.995 - `size` or less.
    soft_line: `book` shades `side` to `size` EV against the sharp consensus (2.2-3.2%, never an
        arbitrage) from start to end: what the ev strategy looks for, a few times per game.
    bad_row: `book` sends a malformed `side` outcome (`detail` says how) from start to end.
    postponed: markets come down at start; the game never starts.
    """

    kind: EventKind
    game_key: str
    market: str
    side: str | None
    book: str | None
    start_ts: int
    end_ts: int
    size: float = 0.0
    detail: str = ""

    @property
    def start(self) -> datetime:
        """When the event begins."""
        return datetime.fromtimestamp(self.start_ts, UTC)

    @property
    def end(self) -> datetime:
        """When the event is over (the lagging book caught up, the window closed...)."""
        return datetime.fromtimestamp(self.end_ts, UTC)


def plan_events(
    rng: random.Random, games: list[DemoGame], books: tuple[DemoBook, ...]
) -> list[DemoEvent]:
    """Spread the events over distinct games that are played; bad rows go anywhere else."""
    retail = [b.key for b in books if not b.sharp]
    playable = [g for g in games if g.postponed_at is None]
    rng.shuffle(playable)
    rounds = max(1, len(games) // GAMES_PER_ROUND)
    events = [
        DemoEvent("postponed", g.game_key, "h2h", None, None, g.postponed_at, g.commence)
        for g in games
        if g.postponed_at is not None
    ]
    makers = {
        "steam": _steam,
        "reverse_line_movement": _reverse_line_movement,
        "sharp_action": _sharp_action,
        "arbitrage": _arbitrage,
        "bad_row": _bad_row,
    }
    for kind, per_round in EVENTS_PER_ROUND.items():
        for n in range(per_round * rounds):
            if not playable:
                return events
            events.append(makers[kind](rng, playable.pop(), rng.choice(retail), n))
    return events


def plan_soft_lines(
    rng: random.Random,
    games: list[DemoGame],
    books: tuple[DemoBook, ...],
    events: list[DemoEvent],
) -> list[DemoEvent]:
    """A few 8-20 minute soft prices per game at cent-quoting retail books, clear of the others."""
    retail = [b.key for b in books if not b.sharp and b.step == 1]
    busy: dict[str, list[tuple[int, int]]] = {}
    for event in events:
        busy.setdefault(event.game_key, []).append((event.start_ts - 900, event.end_ts + 900))
    planned = []
    for game in games:
        if game.postponed_at is not None:
            continue
        taken = list(busy.get(game.game_key, []))
        for _ in range(SOFT_LINES_PER_GAME * 4):  # a few tries each to find a free window
            if len(taken) - len(busy.get(game.game_key, [])) == SOFT_LINES_PER_GAME:
                break
            start = rng.randint(game.opens + 2 * HOUR, game.commence - 30 * 60)
            end = start + rng.randint(8 * 60, 20 * 60)
            if any(start < b and a < end for a, b in taken):
                continue  # collides with another event on this game
            taken.append((start - 300, end + 300))
            market = rng.choices(("h2h", "totals", "spreads"), (5, 3, 2))[0]
            side, book = rng.choice(_SIDES[market]), rng.choice(retail)
            size = round(rng.uniform(0.022, 0.032), 4)
            planned.append(
                DemoEvent("soft_line", game.game_key, market, side, book, start, end, size)
            )
    return planned


def _side_to_shorten(rng: random.Random, game: DemoGame) -> str:
    """A side whose price can shorten a lot and still leave a lagging book 2%+ EV behind."""
    sides = [s for s, p in (("home", game.home_prob), ("away", 1 - game.home_prob)) if p <= 0.55]
    return rng.choice(sides)


def _steam(rng: random.Random, game: DemoGame, book: str, n: int) -> DemoEvent:
    """Sharp money hits one side: books follow within ~2 min, one retail book lags 5-10 min."""
    start = game.commence - rng.randint(40 * 60, 5 * HOUR)
    if rng.random() < 0.7:
        market, side = "h2h", _side_to_shorten(rng, game)
    else:
        market, side = "totals", rng.choice(("over", "under"))
    lag = rng.randint(330, 600)
    size = round(rng.uniform(0.06, 0.07), 4)  # ~25 cents: every follower moves well over 5
    return DemoEvent("steam", game.game_key, market, side, book, start, start + lag, size)


def _reverse_line_movement(rng: random.Random, game: DemoGame, book: str, n: int) -> DemoEvent:
    """The public backs the favourite while the favourite's price drifts longer."""
    start = game.commence - 5 * HOUR + rng.randint(0, 1800)
    end = game.commence - 90 * 60
    side = "home" if game.home_favored else "away"
    size = round(rng.uniform(0.03, 0.04), 4)
    return DemoEvent("reverse_line_movement", game.game_key, "h2h", side, None, start, end, size)


def _sharp_action(rng: random.Random, game: DemoGame, book: str, n: int) -> DemoEvent:
    """Most tickets on the over, more of the money on the under."""
    start = game.commence - 4 * HOUR
    size = round(rng.uniform(13, 20), 1)
    return DemoEvent(
        "sharp_action", game.game_key, "totals", "under", None, start, game.commence, size
    )


def _arbitrage(rng: random.Random, game: DemoGame, book: str, n: int) -> DemoEvent:
    """A retail book hangs a stale or mistaken price for a few minutes."""
    start = game.commence - rng.randint(45 * 60, 5 * HOUR)
    market = "h2h" if rng.random() < 0.6 else "totals"
    side = rng.choice(("home", "away") if market == "h2h" else ("over", "under"))
    end = start + rng.randint(120, 480)
    margin = round(rng.uniform(0.006, 0.015), 4)  # how far below 0.995 the book pair lands
    return DemoEvent("arbitrage", game.game_key, market, side, book, start, end, margin)


def _bad_row(rng: random.Random, game: DemoGame, book: str, n: int) -> DemoEvent:
    """A feed glitch: one outcome with a zero price, an unknown team or a price inside +/-100."""
    start = rng.randint(game.opens + 2 * HOUR, game.commence - 30 * 60)
    end = start + rng.randint(180, 900)
    detail = BAD_ROW_KINDS[n % len(BAD_ROW_KINDS)]
    return DemoEvent("bad_row", game.game_key, "h2h", "home", book, start, end, detail=detail)


@dataclass(slots=True)
class FairPath:
    """A game's fair P(home wins) and P(over) as step functions: value i holds from times[i]."""

    times: list[int]
    home: list[float]
    over: list[float]
    steam_index: int | None  # index of the steam move, when the game has one


def fair_path(rng: random.Random, game: DemoGame, events: list[DemoEvent]) -> FairPath:
    """Small random moves every ~15 min from opening to first pitch, plus the planned moves."""
    moving = ("steam", "reverse_line_movement", "arbitrage", "sharp_action")
    quiet = [(e.start_ts - 600, e.end_ts + 600) for e in events if e.kind in moving]
    opening_over = min(max(rng.gauss(0.5, 0.015), 0.45), 0.55)
    moves: list[tuple[int, float, float]] = []  # (time, change in P(home), change in P(over))
    t = game.opens
    while True:
        t += 360 + int(rng.expovariate(1 / 540))  # >= 6 min apart: no stacking inside a window
        if t >= game.commence:
            break
        if any(a <= t < b for a, b in quiet):
            continue
        if rng.random() < 0.7:
            moves.append((t, rng.gauss(0, DRIFT_SD), 0.0))
        else:
            moves.append((t, 0.0, rng.gauss(0, DRIFT_SD)))
    steam_at = None
    for event in events:
        moves.extend(_planned_moves(event))
        if event.kind == "steam":
            steam_at = event.start_ts
    moves.sort(key=lambda m: m[0])
    path = FairPath([game.opens], [game.home_prob], [opening_over], None)
    for when, d_home, d_over in moves:
        path.times.append(when)
        path.home.append(min(max(path.home[-1] + d_home, 0.2), 0.8))
        path.over.append(min(max(path.over[-1] + d_over, 0.35), 0.65))
        if when == steam_at:
            path.steam_index = len(path.times) - 1
    return path


def _planned_moves(event: DemoEvent) -> list[tuple[int, float, float]]:
    """The fair-probability moves an event makes (none for splits-only or book-only events)."""
    sign = 1.0 if event.side in ("home", "over") else -1.0
    if event.kind == "steam":
        change = sign * event.size
        return [
            (event.start_ts, change, 0.0)
            if event.market == "h2h"
            else (event.start_ts, 0.0, change)
        ]
    if event.kind == "reverse_line_movement":
        steps = 6
        span = (event.end_ts - event.start_ts) // (steps + 1)
        return [
            (event.start_ts + (i + 1) * span, -sign * event.size / steps, 0.0) for i in range(steps)
        ]
    return []
