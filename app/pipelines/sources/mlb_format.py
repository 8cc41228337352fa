"""MLB Stats API schedule payload -> Games (keyed by gamePk) and Scores, bad rows quarantined."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from app.pipelines.types import Game, Score
from app.pipelines.validation import (
    Parsed,
    PayloadShapeError,
    RowChecker,
    RowError,
    check_count,
    check_game_number,
    check_team,
    check_text,
    check_timestamp,
    make_game_key,
)

ScoreStatus = Literal["scheduled", "live", "final", "postponed", "cancelled", "suspended"]
_ABSTRACT_STATES: dict[str, ScoreStatus] = {
    "preview": "scheduled",
    "live": "live",
    "final": "final",
}


def parse_mlb_schedule(payload: Any, *, source: str) -> Parsed:
    """`/api/v1/schedule` -> Games (source_ref = gamePk) and Scores; official date + gameNumber."""
    ctx = RowChecker(source, None)
    dates = payload.get("dates") if isinstance(payload, dict) else None
    if not isinstance(dates, list):
        raise PayloadShapeError("schedule payload must be an object with a dates array")
    seen: set[tuple[str | None, str]] = set()
    for day in dates:
        games = day.get("games") if isinstance(day, dict) else None
        if not isinstance(games, list):
            ctx.reject(RowError("games", "a schedule date has no games array"), day)
            continue
        for row in games:
            try:
                game, score = _game(row)
                if (game.source_ref, game.game_key) in seen:
                    raise RowError("gamePk", f"game {game.source_ref} is listed twice")
            except RowError as bad:
                ctx.reject(bad, row)
                continue
            seen.add((game.source_ref, game.game_key))
            ctx.parsed.games.append(game)
            ctx.parsed.scores.append(score)
    return ctx.parsed


def _game(row: Any) -> tuple[Game, Score]:
    """One schedule game -> (Game, Score)."""
    if not isinstance(row, dict):
        raise RowError("game", f"game is a {type(row).__name__}, not an object")
    game_pk = check_count(row.get("gamePk"), "gamePk")
    commence = check_timestamp(row.get("gameDate"), "gameDate")
    raw_date = check_text(row, "officialDate")
    try:
        official = date.fromisoformat(raw_date)
    except ValueError:
        raise RowError("officialDate", f"officialDate {raw_date!r} is not a date") from None
    number = check_game_number(row.get("gameNumber", 1), "gameNumber")
    teams = row.get("teams")
    home_row = teams.get("home") if isinstance(teams, dict) else None
    away_row = teams.get("away") if isinstance(teams, dict) else None
    if not isinstance(home_row, dict) or not isinstance(away_row, dict):
        raise RowError("teams", "teams must have home and away")
    home = check_team(home_row.get("team") or {}, "name", "teams.home.team.name")
    away = check_team(away_row.get("team") or {}, "name", "teams.away.team.name")
    if home == away:
        raise RowError("teams.away.team.name", f"{home} cannot play itself")
    status, detail = _status(row.get("status"))
    home_score = away_score = None
    raw_home, raw_away = home_row.get("score"), away_row.get("score")
    if status == "final" or (
        status in ("live", "suspended") and (raw_home, raw_away) != (None, None)
    ):
        home_score = check_count(raw_home, "teams.home.score")
        away_score = check_count(raw_away, "teams.away.score")
    key = make_game_key(official, away=away, home=home, game_number=number)
    raw_status = row.get("status")
    tbd = isinstance(raw_status, dict) and raw_status.get("startTimeTBD") is True
    resumed = row.get("resumedFrom") is not None or row.get("resumedFromDate") is not None
    game = Game(key, home, away, commence, str(game_pk), number, True, tbd, resumed)
    innings = innings_played(row.get("linescore"))
    return game, Score(key, status, home_score, away_score, detail, innings)


def innings_played(linescore: Any) -> float | None:
    """Innings played from a hydrated linescore: whole innings, +0.5 for a top half alone.

    `linescore.innings` lists each inning with `away.runs` and, once the home half is played,
    `home.runs`; a final with the home team ahead after the top of the 9th shows 8.5. None
    when the schedule was fetched without `hydrate=linescore`.
    """
    if not isinstance(linescore, dict) or not isinstance(linescore.get("innings"), list):
        return None
    played = 0.0
    for inning in linescore["innings"]:
        if not isinstance(inning, dict):
            return None
        away, home = inning.get("away"), inning.get("home")
        if isinstance(away, dict) and away.get("runs") is not None:
            played += 0.5
            if isinstance(home, dict) and home.get("runs") is not None:
                played += 0.5
    return played


def _status(status: Any) -> tuple[ScoreStatus, str]:
    """MLB status -> ours and MLB's own wording. Postponed/Cancelled win over abstract Final;
    a suspended game waits as `suspended` until it resumes; "Completed Early" is a final."""
    if not isinstance(status, dict):
        raise RowError("status", "status is missing")
    detail = check_text(status, "detailedState", "status.detailedState", max_len=64)
    detailed = detail.casefold()
    if detailed.startswith("postponed"):
        return "postponed", detail
    if detailed.startswith(("cancelled", "canceled")):
        return "cancelled", detail
    if detailed.startswith("suspended"):
        return "suspended", detail  # resumes another day; not gradable until it ends
    abstract = check_text(status, "abstractGameState", "status.abstractGameState")
    mapped = _ABSTRACT_STATES.get(abstract.casefold())
    if mapped is None:
        raise RowError("status.abstractGameState", f"game state {abstract!r} is not known")
    return mapped, detail
