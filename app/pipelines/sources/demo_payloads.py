"""Render the demo's simulated state as the feeds would send it: Odds API, MLB, splits records."""

from __future__ import annotations

from typing import Any

from app.pipelines.sources.demo_books import DemoBook
from app.pipelines.sources.demo_calendar import DemoGame
from app.pipelines.sources.demo_splits import SplitPoint
from app.pipelines.sources.demo_timelines import BookState
from app.pipelines.teams import TEAMS
from app.pipelines.types import SIDES_BY_MARKET

# The Odds API long kept the Athletics' Oakland name; MLB calls them "Athletics": both must map.
ODDS_NAMES = {key: team.name for key, team in TEAMS.items()} | {"ATH": "Oakland Athletics"}
_TEAM_IDS = {key: 108 + i for i, key in enumerate(sorted(TEAMS))}
Status = tuple[str, str, str]  # (abstractGameState, codedGameState, detailedState)


def event(game: DemoGame, bookmakers: list[dict[str, Any]]) -> dict[str, Any]:
    """One Odds API v4 event."""
    return {
        "id": game.event_id,
        "sport_key": "baseball_mlb",
        "sport_title": "MLB",
        "commence_time": game.commence_iso(),
        "home_team": ODDS_NAMES[game.home],
        "away_team": ODDS_NAMES[game.away],
        "bookmakers": bookmakers,
    }


def bookmaker(book: DemoBook, game: DemoGame, state: BookState) -> dict[str, Any]:
    """One Odds API bookmaker object from a timeline state (a planted bad row renames home)."""
    updated, h2h, spreads, totals = state
    home, away = ODDS_NAMES[game.home], ODDS_NAMES[game.away]
    return {
        "key": book.key,
        "title": book.title,
        "last_update": updated,
        "markets": [
            {
                "key": "h2h",
                "last_update": h2h[3],
                "outcomes": [
                    {"name": h2h[4] or home, "price": h2h[0]},
                    {"name": away, "price": h2h[1]},
                ],
            },
            {
                "key": "spreads",
                "last_update": spreads[3],
                "outcomes": [
                    {"name": spreads[4] or home, "price": spreads[0], "point": spreads[2]},
                    {"name": away, "price": spreads[1], "point": -(spreads[2] or 0.0)},
                ],
            },
            {
                "key": "totals",
                "last_update": totals[3],
                "outcomes": [
                    {"name": "Over", "price": totals[0], "point": totals[2]},
                    {"name": "Under", "price": totals[1], "point": totals[2]},
                ],
            },
        ],
    }


def split_records(game: DemoGame, market: str, point: SplitPoint) -> list[dict[str, Any]]:
    """Both sides of one market's split snapshot as splits records (our own format)."""
    as_of, tickets_a, money_a, total = point
    side_a, side_b = SIDES_BY_MARKET[market]
    count_a = round(total * tickets_a / 100)
    sides = (
        (side_a, tickets_a, money_a, count_a),
        (side_b, round(100 - tickets_a, 1), round(100 - money_a, 1), total - count_a),
    )
    return [
        {
            "game_key": game.game_key,
            "market": market,
            "side": side,
            "tickets_pct": tickets_pct,
            "money_pct": money_pct,
            "tickets": count,
            "as_of": as_of,
        }
        for side, tickets_pct, money_pct, count in sides
    ]


def status_at(game: DemoGame, ts: int) -> Status:
    """The MLB status triple of a game at `ts`."""
    if game.postponed_at is not None and ts >= game.postponed_at:
        return "Final", "D", "Postponed"  # MLB files postponements under abstract Final
    if ts < game.commence - 1800:
        return "Preview", "S", "Scheduled"
    if ts < game.commence:
        return "Preview", "P", "Pre-Game"
    if ts < game.ends:
        return "Live", "I", "In Progress"
    return "Final", "F", "Final"


def schedule_game(game: DemoGame, status: Status, official: str, twin: bool) -> dict[str, Any]:
    """One MLB Stats API schedule game; scores only once it is final."""
    abstract, coded, detailed = status
    home: dict[str, Any] = {"team": {"id": _TEAM_IDS[game.home], "name": TEAMS[game.home].name}}
    away: dict[str, Any] = {"team": {"id": _TEAM_IDS[game.away], "name": TEAMS[game.away].name}}
    if detailed == "Final":
        home |= {"score": game.home_score, "isWinner": game.home_score > game.away_score}
        away |= {"score": game.away_score, "isWinner": game.away_score > game.home_score}
    state: dict[str, Any] = {
        "abstractGameState": abstract,
        "codedGameState": coded,
        "detailedState": detailed,
    }
    if detailed == "Postponed":
        state["reason"] = "Rain"
    return {
        "gamePk": game.game_pk,
        "gameDate": game.commence_iso(),
        "officialDate": official,
        "doubleHeader": "Y" if twin else "N",
        "gameNumber": game.game_number,
        "status": state,
        "teams": {"home": home, "away": away},
        "venue": {"id": _TEAM_IDS[game.home], "name": f"{TEAMS[game.home].name} Park"},
    }


def schedule(official: str, games: list[dict[str, Any]]) -> dict[str, Any]:
    """The schedule response wrapping one official date."""
    day = {"date": official, "totalGames": len(games), "games": games}
    return {"totalGames": len(games), "dates": [day]}
