"""The demo's slate: who plays whom, first pitches, market opening, endings, results."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.pipelines.teams import TEAMS
from app.pipelines.validation import make_game_key, official_date

GAMES_PER_ROUND = 15
HOUR = 3600
# First-pitch slots in minutes after 00:00 UTC of the official date (13:05 .. 22:10 Eastern).
_FIRST, _DOUBLEHEADER_NIGHTCAP, _LAST = 17 * 60 + 5, 21 * 60 + 10, 26 * 60 + 10
_SLOTS = (
    *(17 * 60 + m for m in (5, 10, 35)),
    *(18 * 60 + m for m in (10, 40)),
    *(19 * 60 + m for m in (5, 10)),
    *(20 * 60 + m for m in (5, 10)),
    *(22 * 60 + m for m in (35, 40)),
    *(23 * 60 + m for m in (5, 7, 10, 40)),
    *(24 * 60 + m for m in (5, 10, 40)),
    *(25 * 60 + m for m in (38, 40)),
)
# The always-alive slate: first pitches every 96 minutes around the clock of the official
# (New York) date, from 00:30 to 22:54, so at any hour games are coming up, in play and ending.
NEW_YORK = ZoneInfo("America/New_York")
_ROLLING_FIRST = timedelta(minutes=30)
_ROLLING_GAP = timedelta(minutes=96)
_LOSER_RUNS = (0, 1, 2, 3, 4, 5, 6, 7, 8)
_LOSER_WEIGHTS = (8, 14, 16, 15, 13, 11, 9, 7, 7)
_MARGINS = (1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 7)
_TOTALS = (7.5, 8.0, 8.5, 8.5, 9.0, 9.5)


@dataclass(frozen=True, slots=True)
class DemoGame:
    """One scheduled game with everything the simulator precomputes for it (epoch seconds)."""

    index: int
    game_key: str
    event_id: str  # Odds API style id
    game_pk: int  # MLB Stats API style id
    home: str
    away: str
    game_number: int
    commence: int
    opens: int  # when the first book posts a price (about 8 h before first pitch)
    ends: int  # final out, about 3 h after first pitch
    postponed_at: int | None  # when a postponement is announced; markets come down then
    home_prob: float  # opening fair probability that the home team wins
    total: float  # the totals line every book hangs
    home_score: int
    away_score: int

    @property
    def home_favored(self) -> bool:
        """Whether the home side lays the run (-1.5)."""
        return self.home_prob >= 0.5

    def commence_iso(self) -> str:
        """First pitch as the ISO string the feeds carry."""
        return iso(self.commence)


_DAY_PREFIX: dict[int, str] = {}


def iso(ts: int) -> str:
    """Epoch seconds -> the ISO 8601 'Z' form The Odds API uses (hot: ~100k calls per day)."""
    day, second = divmod(ts, 86400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = f"{datetime.fromtimestamp(day * 86400, UTC):%Y-%m-%d}T"
    hour, rest = divmod(second, 3600)
    return f"{prefix}{hour:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


def rolling_first_pitches(day: date) -> list[int]:
    """The always-alive slate's first pitches (epoch seconds), all on New York date `day`."""
    start = datetime.combine(day, time(0), NEW_YORK) + _ROLLING_FIRST
    return [int((start + i * _ROLLING_GAP).timestamp()) for i in range(GAMES_PER_ROUND)]


def build_calendar(
    rng: random.Random, day: date, scale: int, *, rolling: bool = False
) -> list[DemoGame]:
    """15 * scale games on `day`: MLB's hours (the first at 17:05 UTC, the last at 02:10 UTC),
    or, `rolling`, one every 96 minutes around the clock of that New York date.

    Round 0 holds a doubleheader (two teams get the day off); rounds beyond the first are a
    load-test knob and simply reshuffle the 30 clubs.
    """
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    drafts: list[tuple[str, str, int]] = []  # (away, home, commence)
    for round_no in range(scale):
        clubs = list(TEAMS)
        rng.shuffle(clubs)
        pairs = [(clubs[2 * i], clubs[2 * i + 1]) for i in range(GAMES_PER_ROUND)]
        minutes = [_FIRST, _LAST] + [rng.choice(_SLOTS) for _ in range(GAMES_PER_ROUND - 2)]
        if round_no == 0:
            pairs[2] = pairs[0]
            minutes[2] = _DOUBLEHEADER_NIGHTCAP
        starts = [midnight + minute * 60 for minute in minutes]
        if rolling:  # the nightcap (slot 2) follows its opener (slot 0) by 3 h 12 min
            starts = rolling_first_pitches(day)
        drafts.extend(
            (away, home, commence) for (away, home), commence in zip(pairs, starts, strict=True)
        )
    drafts.sort(key=lambda d: d[2])
    seen: dict[tuple[str, str], int] = {}
    games = []
    for index, (away, home, commence) in enumerate(drafts):
        seen[away, home] = number = seen.get((away, home), 0) + 1
        games.append(_game(rng, index, away, home, number, commence))
    _postpone_some(rng, games)
    return games


def _game(
    rng: random.Random, index: int, away: str, home: str, number: int, commence: int
) -> DemoGame:
    """Draw one game's opening price, total, timing and result."""
    home_prob = min(max(rng.gauss(0.535, 0.07), 0.3), 0.72)
    home_wins = rng.random() < home_prob
    loser = rng.choices(_LOSER_RUNS, _LOSER_WEIGHTS)[0]
    winner = loser + rng.choice(_MARGINS)
    day = official_date(datetime.fromtimestamp(commence, UTC))
    return DemoGame(
        index=index,
        game_key=make_game_key(day, away=away, home=home, game_number=number),
        event_id=f"{rng.getrandbits(128):032x}",
        game_pk=745000 + index,
        home=home,
        away=away,
        game_number=number,
        commence=commence,
        opens=commence - 8 * HOUR - rng.randint(0, 1800),
        ends=commence + rng.randint(155 * 60, 205 * 60),
        postponed_at=None,
        home_prob=round(home_prob, 4),
        total=rng.choice(_TOTALS),
        home_score=winner if home_wins else loser,
        away_score=loser if home_wins else winner,
    )


def _postpone_some(rng: random.Random, games: list[DemoGame]) -> None:
    """About every other slate of 15, one single game is rained out 1-3 h before first pitch."""
    singles = [i for i, g in enumerate(games) if g.game_number == 1 and not _has_twin(games, g)]
    for _ in range(max(1, len(games) // GAMES_PER_ROUND)):
        if rng.random() < 0.5 and singles:
            i = singles.pop(rng.randrange(len(singles)))
            announced = games[i].commence - rng.randint(HOUR, 3 * HOUR)
            games[i] = replace(games[i], postponed_at=announced)


def _has_twin(games: list[DemoGame], game: DemoGame) -> bool:
    """Whether the same two clubs play again that day (a doubleheader)."""
    return any(g.away == game.away and g.home == game.home and g is not game for g in games)


def day_bounds(games: list[DemoGame]) -> tuple[datetime, datetime]:
    """From the first market opening to the last final out."""
    start = min(g.opens for g in games)
    end = max(g.ends for g in games)
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
