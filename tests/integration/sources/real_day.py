"""A recorded-format MLB day (2024-07-13) as The Odds API v4 and MLB Stats API would answer it.

Shapes follow the public payloads: Odds API events `{id, sport_key, sport_title, commence_time,
home_team, away_team, bookmakers: [{key, title, last_update, markets: [{key, last_update,
outcomes: [{name, price, point?}]}]}]}`; MLB schedule `{dates: [{date, games: [{gamePk,
gameDate, officialDate, status: {abstractGameState, detailedState, startTimeTBD}, teams,
doubleHeader, gameNumber, linescore?, rescheduleDate?, rescheduledFrom?}]}]}`.

The day:
- BOS@NYY 23:05Z: the total moves 8.5 -> 9.0 at every book by 18:50; final 5-4 in nine.
- CWS@DET split doubleheader: game 1 17:10Z (final, gone from the odds feed by 18:50), game 2
  21:40Z first listed by the odds feed at 18:50.
- LAA@ATH: MLB has no start time yet (startTimeTBD, the 07:33Z placeholder); the odds feed
  says 02:07Z on the 14th.
- SEA@HOU 00:10Z on the 14th: rain, "Completed Early" after six innings.
- TOR@BAL 23:05Z: postponed; made up on the 14th at 17:05Z (same gamePk, rescheduledFrom).
"""

from __future__ import annotations

from typing import Any

TEAMS = {
    "NYY": "New York Yankees",
    "BOS": "Boston Red Sox",
    "DET": "Detroit Tigers",
    "CWS": "Chicago White Sox",
    "ATH": "Oakland Athletics",
    "LAA": "Los Angeles Angels",
    "HOU": "Houston Astros",
    "SEA": "Seattle Mariners",
    "BAL": "Baltimore Orioles",
    "TOR": "Toronto Blue Jays",
}
EVENT_IDS = {
    "BOS@NYY": "e1a0c0ffee0000000000000000000001",
    "CWS@DET-2": "0b2a6f3b1c8e4d7f9a5e2c1d3b4a5f6e",
    "LAA@ATH": "e1a0c0ffee0000000000000000000003",
    "SEA@HOU": "e1a0c0ffee0000000000000000000004",
    "TOR@BAL": "e1a0c0ffee0000000000000000000005",
    "TOR@BAL-makeup": "e1a0c0ffee0000000000000000000006",
}
COMMENCE = {
    "BOS@NYY": "2024-07-13T23:05:00Z",
    "CWS@DET-2": "2024-07-13T21:40:00Z",
    "LAA@ATH": "2024-07-14T02:07:00Z",
    "SEA@HOU": "2024-07-14T00:10:00Z",
    "TOR@BAL": "2024-07-13T23:05:00Z",
    "TOR@BAL-makeup": "2024-07-14T17:05:00Z",
}
HOSTILE_BOOK = "x" * 10_240  # a 10 kB bookmaker key: quarantined, never the batch's end


def _h2h(home: str, away: str, home_price: int, away_price: int, at: str) -> dict[str, Any]:
    return {
        "key": "h2h",
        "last_update": at,
        "outcomes": [
            {"name": TEAMS[home], "price": home_price},
            {"name": TEAMS[away], "price": away_price},
        ],
    }


def _totals(point: float, over: int, under: int, at: str) -> dict[str, Any]:
    return {
        "key": "totals",
        "last_update": at,
        "outcomes": [
            {"name": "Over", "price": over, "point": point},
            {"name": "Under", "price": under, "point": point},
        ],
    }


def _book(key: str, at: str, *markets: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "title": key.title(), "last_update": at, "markets": list(markets)}


def _event(game: str, books: list[dict[str, Any]]) -> dict[str, Any]:
    teams = game.split("-")[0]
    away, home = teams.split("@")
    return {
        "id": EVENT_IDS[game],
        "sport_key": "baseball_mlb",
        "sport_title": "MLB",
        "commence_time": COMMENCE[game],
        "home_team": TEAMS[home],
        "away_team": TEAMS[away],
        "bookmakers": books,
    }


def ev_market(
    game: str, at: str, *, sharp: tuple[int, int], soft: tuple[int, int], point: float | None
) -> list[dict[str, Any]]:
    """Three books on one market: pinnacle (sharp), draftkings (generous on the first side),
    fanduel; h2h when point is None (first side = away), else totals (first side = over)."""
    away, home = game.split("-")[0].split("@")

    def market(a: int, b: int) -> dict[str, Any]:
        if point is None:
            return _h2h(home, away, b, a, at)
        return _totals(point, a, b, at)

    return [
        _book("pinnacle", at, market(*sharp)),
        _book("draftkings", at, market(*soft)),
        _book("fanduel", at, market(-110, -110)),
    ]


def _merged(*books: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Books of several ev_market calls with their markets joined per bookmaker."""
    joined: dict[str, dict[str, Any]] = {}
    for group in books:
        for book in group:
            seen = joined.setdefault(book["key"], {**book, "markets": []})
            seen["markets"].extend(book["markets"])
    return list(joined.values())


def odds_1600() -> list[dict[str, Any]]:
    """16:00: BOS@NYY Over 8.5 +112 at DraftKings against pinnacle -105/-115 (+EV); LAA@ATH,
    SEA@HOU and TOR@BAL moneylines with an away price that beats pinnacle's."""
    at = "2024-07-13T15:59:30Z"
    nyy = ev_market("BOS@NYY", at, sharp=(-105, -115), soft=(112, -130), point=8.5)
    nyy[0]["markets"].append(_h2h("NYY", "BOS", -150, 135, at))
    nyy.append(_book(HOSTILE_BOOK, at, _h2h("NYY", "BOS", -140, 120, at)))
    return [
        _event("BOS@NYY", nyy),
        _event(
            "LAA@ATH", ev_market("LAA@ATH", at, sharp=(110, -125), soft=(125, -145), point=None)
        ),
        _event(
            "SEA@HOU",
            _merged(
                ev_market("SEA@HOU", at, sharp=(115, -130), soft=(130, -150), point=None),
                ev_market("SEA@HOU", at, sharp=(-105, -115), soft=(112, -130), point=7.5),
            ),
        ),
        _event(
            "TOR@BAL", ev_market("TOR@BAL", at, sharp=(120, -135), soft=(138, -160), point=None)
        ),
    ]


def odds_1850() -> list[dict[str, Any]]:
    """18:50: every book on BOS@NYY has moved the total to 9.0 (8.5 is withdrawn everywhere);
    the doubleheader's game 2 is listed alone (game 1 is over)."""
    at = "2024-07-13T18:50:00Z"
    nyy = [
        _book("pinnacle", at, _totals(9.0, -102, -118, at), _h2h("NYY", "BOS", -160, 145, at)),
        _book("draftkings", at, _totals(9.0, -105, -115, at)),
        _book("fanduel", at, _totals(9.0, -108, -112, at)),
    ]
    dh2 = ev_market("CWS@DET-2", at, sharp=(150, -170), soft=(150, -170), point=None)
    return [_event("BOS@NYY", nyy), _event("CWS@DET-2", dh2)]


def odds_makeup() -> list[dict[str, Any]]:
    """The next morning: the TOR@BAL makeup as a new odds event."""
    at = "2024-07-14T12:00:00Z"
    books = ev_market("TOR@BAL-makeup", at, sharp=(120, -135), soft=(120, -135), point=None)
    return [_event("TOR@BAL-makeup", books)]


def _linescore(runs: list[tuple[int, int | None]]) -> dict[str, Any]:
    """A hydrated linescore: (away, home) runs per inning; home None = not batted."""
    innings = []
    for i, (away, home) in enumerate(runs, start=1):
        inning: dict[str, Any] = {"num": i, "away": {"runs": away, "hits": 1, "errors": 0}}
        inning["home"] = {"hits": 0, "errors": 0} if home is None else {"runs": home, "hits": 1}
        innings.append(inning)
    return {"currentInning": len(runs), "scheduledInnings": 9, "innings": innings}


def _game(
    pk: int,
    game: str,
    official: str,
    state: tuple[str, str],
    *,
    number: int = 1,
    double: str = "N",
    when: str | None = None,
    tbd: bool = False,
    score: tuple[int, int] | None = None,
    linescore: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    away, home = game.split("-")[0].split("@")
    row: dict[str, Any] = {
        "gamePk": pk,
        "gameType": "R",
        "season": "2024",
        "gameDate": when or COMMENCE[game],
        "officialDate": official,
        "status": {
            "abstractGameState": state[0],
            "detailedState": state[1],
            "startTimeTBD": tbd,
        },
        "teams": {
            "away": {"team": {"id": pk % 100, "name": TEAMS[away]}},
            "home": {"team": {"id": pk % 100 + 1, "name": TEAMS[home]}},
        },
        "venue": {"id": 1, "name": "Park"},
        "doubleHeader": double,
        "gameNumber": number,
        **extra,
    }
    if score is not None:
        row["teams"]["away"]["score"], row["teams"]["home"]["score"] = score
    if linescore is not None:
        row["linescore"] = linescore
    return row


def schedule(*games: dict[str, Any]) -> dict[str, Any]:
    """The `/api/v1/schedule` envelope around games, grouped by official date."""
    dates: dict[str, list[dict[str, Any]]] = {}
    for g in games:
        dates.setdefault(g["officialDate"], []).append(g)
    return {
        "copyright": "Copyright 2024 MLB Advanced Media, L.P.",
        "totalGames": len(games),
        "dates": [
            {"date": d, "totalGames": len(gs), "games": gs} for d, gs in sorted(dates.items())
        ],
    }


PRE = ("Preview", "Scheduled")


def schedule_before(final_game1: bool) -> dict[str, Any]:
    """The 13th before the evening games: game 1 of the doubleheader final (or not yet)."""
    g1_state = ("Final", "Final") if final_game1 else PRE
    return schedule(
        _game(746300, "BOS@NYY", "2024-07-13", PRE),
        _game(
            746233,
            "CWS@DET",
            "2024-07-13",
            g1_state,
            double="S",
            when="2024-07-13T17:10:00Z",
            score=(1, 4) if final_game1 else None,
        ),
        _game(746234, "CWS@DET-2", "2024-07-13", PRE, number=2, double="S"),
        _game(746301, "LAA@ATH", "2024-07-13", PRE, when="2024-07-13T07:33:00Z", tbd=True),
        _game(746302, "SEA@HOU", "2024-07-13", PRE),
        _game(746303, "TOR@BAL", "2024-07-13", PRE),
    )


def schedule_after() -> dict[str, Any]:
    """After midnight: finals (one rain-shortened), the postponement and its makeup."""
    nine = [(0, 1), (1, 0), (0, 0), (2, 1), (0, 2), (1, 0), (0, 1), (0, 0), (0, None)]
    six = [(0, 1), (0, 0), (1, 0), (0, 1), (0, 0), (0, 1)]
    return schedule(
        _game(
            746300,
            "BOS@NYY",
            "2024-07-13",
            ("Final", "Final"),
            score=(4, 5),
            linescore=_linescore(nine),
        ),
        _game(
            746233,
            "CWS@DET",
            "2024-07-13",
            ("Final", "Final"),
            double="S",
            when="2024-07-13T17:10:00Z",
            score=(1, 4),
        ),
        _game(
            746234,
            "CWS@DET-2",
            "2024-07-13",
            ("Final", "Final"),
            number=2,
            double="S",
            score=(2, 3),
        ),
        _game(
            746301,
            "LAA@ATH",
            "2024-07-13",
            ("Final", "Final"),
            when="2024-07-14T02:07:00Z",
            score=(6, 2),
        ),
        _game(
            746302,
            "SEA@HOU",
            "2024-07-13",
            ("Final", "Completed Early: Rain"),
            score=(1, 3),
            linescore=_linescore(six),
        ),
        _game(
            746303,
            "TOR@BAL",
            "2024-07-13",
            ("Final", "Postponed"),
            rescheduleDate="2024-07-14T17:05:00Z",
            rescheduleGameDate="2024-07-14",
        ),
        _game(
            746303,
            "TOR@BAL-makeup",
            "2024-07-14",
            PRE,
            double="Y",
            rescheduledFrom="2024-07-13T23:05:00Z",
            rescheduledFromDate="2024-07-13",
        ),
    )
