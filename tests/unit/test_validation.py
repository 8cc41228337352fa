"""Every bad row becomes a Rejected naming the field; the rest of the payload is kept."""

from __future__ import annotations

import copy
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from app.pipelines.sources.mlb_format import parse_mlb_schedule
from app.pipelines.sources.odds_api_format import parse_odds, parse_odds_scores
from app.pipelines.types import Quote
from app.pipelines.validation import (
    PayloadShapeError,
    content_hash,
    make_game_key,
    official_date,
    parse_splits,
    parse_timestamp,
)

NOW = datetime(2024, 7, 13, 15, 0, tzinfo=UTC)
KEY = "2024-07-13-BOS@NYY"


def odds_event(**changes: Any) -> dict[str, Any]:
    """A valid Odds API event with two books and all three markets."""
    event: dict[str, Any] = {
        "id": "ev1",
        "sport_key": "baseball_mlb",
        "commence_time": "2024-07-13T23:05:00Z",
        "home_team": "New York Yankees",
        "away_team": "Boston Red Sox",
        "bookmakers": [
            {
                "key": "draftkings",
                "title": "DraftKings",
                "last_update": "2024-07-13T14:59:00Z",
                "markets": [
                    {
                        "key": "h2h",
                        "last_update": "2024-07-13T14:59:00Z",
                        "outcomes": [
                            {"name": "New York Yankees", "price": -142},
                            {"name": "Boston Red Sox", "price": 120},
                        ],
                    },
                    {
                        "key": "spreads",
                        "outcomes": [
                            {"name": "New York Yankees", "price": 130, "point": -1.5},
                            {"name": "Boston Red Sox", "price": -155, "point": 1.5},
                        ],
                    },
                    {
                        "key": "totals",
                        "outcomes": [
                            {"name": "Over", "price": -105, "point": 8.5},
                            {"name": "Under", "price": -115, "point": 8.5},
                        ],
                    },
                ],
            },
            {
                "key": "fanduel",
                "title": "FanDuel",
                "last_update": "2024-07-13T14:58:00Z",
                "markets": [
                    {
                        "key": "h2h",
                        "outcomes": [
                            {"name": "New York Yankees", "price": -140},
                            {"name": "Boston Red Sox", "price": 118},
                        ],
                    }
                ],
            },
        ],
    }
    event.update(changes)
    return event


def dk_outcome(event: dict[str, Any], market: int, outcome: int) -> dict[str, Any]:
    """An outcome of the DraftKings book, for mutating in place."""
    return event["bookmakers"][0]["markets"][market]["outcomes"][outcome]  # type: ignore[no-any-return]


def test_valid_event_games_quotes_and_sides() -> None:
    parsed = parse_odds([odds_event()], source="odds_api", now=NOW)

    assert parsed.rejected == []
    (game,) = parsed.games
    assert (game.game_key, game.home, game.away, game.source_ref) == (KEY, "NYY", "BOS", "ev1")
    assert game.commence_time == datetime(2024, 7, 13, 23, 5, tzinfo=UTC)
    sides = [(q.book, q.market, q.side, q.price, q.point) for q in parsed.quotes]
    assert sides == [
        ("draftkings", "h2h", "home", -142, None),
        ("draftkings", "h2h", "away", 120, None),
        ("draftkings", "spreads", "home", 130, -1.5),
        ("draftkings", "spreads", "away", -155, 1.5),
        ("draftkings", "totals", "over", -105, 8.5),
        ("draftkings", "totals", "under", -115, 8.5),
        ("fanduel", "h2h", "home", -140, None),
        ("fanduel", "h2h", "away", 118, None),
    ]
    dk_spread = parsed.quotes[2]
    assert dk_spread.last_update == datetime(2024, 7, 13, 14, 59, tzinfo=UTC)  # the book's
    assert all(q.last_update.tzinfo is UTC for q in parsed.quotes)


BAD_PRICES = [
    (None, "price is missing"),
    (0, "zero"),
    (float("nan"), "not a finite number"),
    (float("inf"), "not a finite number"),
    ("-110", "not a number"),
    ("abc", "not a number"),
    (True, "not a number"),
    (-50, "inside (-100, +100)"),
    (99, "inside (-100, +100)"),
    (1.91, "decimal odds?"),
    (20000, "not plausible"),
    (-10100, "not plausible"),
]


@pytest.mark.parametrize(("price", "words"), BAD_PRICES)
def test_bad_price_rejects_only_that_outcome(price: Any, words: str) -> None:
    event = odds_event()
    dk_outcome(event, 0, 0)["price"] = price
    if price is None:
        del dk_outcome(event, 0, 0)["price"]

    parsed = parse_odds([event], source="odds_api", now=NOW)

    (rejected,) = parsed.rejected
    assert (rejected.source, rejected.field) == ("odds_api", "price")
    assert words in rejected.reason or (price is None and "not a number" in rejected.reason)
    assert rejected.payload["bookmaker"] == "draftkings" and rejected.payload["market"] == "h2h"
    assert len(parsed.quotes) == 7 and len(parsed.games) == 1


@pytest.mark.parametrize("price", [-100, 100, 9900, -9900, -110.0])
def test_boundary_prices_are_kept(price: Any) -> None:
    event = odds_event()
    dk_outcome(event, 0, 0)["price"] = price

    parsed = parse_odds([event], source="odds_api", now=NOW)

    assert parsed.rejected == [] and parsed.quotes[0].price == int(price)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Havana Sugar Kings", "not a known MLB team"),
        ("Chicago Cubs", "not playing in BOS@NYY"),
        ("New York\x00Yankees", "control character U+0000"),
        ("New York Yankees\u200b", "control character U+200B"),
        ("", "name is empty"),
        (7, "must be a string"),
    ],
)
def test_bad_outcome_name(name: Any, words: str) -> None:
    event = odds_event()
    dk_outcome(event, 0, 0)["name"] = name

    parsed = parse_odds([event], source="odds_api", now=NOW)

    (rejected,) = parsed.rejected
    assert rejected.field == "name" and words in rejected.reason
    assert len(parsed.quotes) == 7


def test_alias_outcome_names_match_the_event_teams() -> None:
    event = odds_event(home_team="NY Yankees")
    dk_outcome(event, 0, 0)["name"] = "new york yankees"
    dk_outcome(event, 2, 1)["name"] = "under"

    parsed = parse_odds([event], source="odds_api", now=NOW)

    assert parsed.rejected == []
    assert (parsed.quotes[0].side, parsed.quotes[5].side) == ("home", "under")


def test_bad_totals_name_and_points() -> None:
    event = odds_event()
    dk_outcome(event, 2, 0)["name"] = "Ovr"
    del dk_outcome(event, 1, 0)["point"]
    dk_outcome(event, 2, 1)["point"] = float("nan")
    dk_outcome(event, 1, 1)["point"] = 40.5

    parsed = parse_odds([event], source="odds_api", now=NOW)

    fields = sorted((r.field, r.reason) for r in parsed.rejected)
    assert [f for f, _ in fields] == ["name", "point", "point", "point"]
    assert any("neither Over nor Under" in reason for _, reason in fields)
    assert len(parsed.quotes) == 4


def test_duplicate_side_and_unknown_market() -> None:
    event = odds_event()
    dk_outcome(event, 0, 1)["name"] = "New York Yankees"
    event["bookmakers"][1]["markets"].append({"key": "h2h_lay", "outcomes": []})

    parsed = parse_odds([event], source="odds_api", now=NOW)

    assert [(r.field, r.payload.get("market")) for r in parsed.rejected] == [
        ("name", "h2h"),
        ("key", {"key": "h2h_lay", "outcomes": []}),
    ]
    assert "twice" in parsed.rejected[0].reason


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("home_team", "Springfield Isotopes", "not a known MLB team"),
        ("away_team", None, "away_team is missing"),
        ("away_team", "Yankees", "cannot play itself"),
        ("commence_time", "tomorrow night", "not an ISO 8601 timestamp"),
        ("commence_time", "2024-07-13T23:05:00", "has no time zone"),
        ("id", "ev\x1b1", "control character U+001B"),
    ],
)
def test_bad_event_header_quarantines_the_event_only(field: str, value: Any, words: str) -> None:
    good = odds_event(id="ev2", home_team="Detroit Tigers", away_team="Chicago White Sox")
    for book in good["bookmakers"]:
        for market in book["markets"]:
            for outcome in market["outcomes"]:
                outcome["name"] = {
                    "New York Yankees": "Detroit Tigers",
                    "Boston Red Sox": "Chicago White Sox",
                }.get(outcome["name"], outcome["name"])
    bad = odds_event(**{field: value})

    parsed = parse_odds([bad, good], source="odds_api", now=NOW)

    (rejected,) = parsed.rejected
    assert rejected.field == field and words in rejected.reason
    assert "bookmakers" not in rejected.payload  # the quarantine row stays small
    assert [g.game_key for g in parsed.games] == ["2024-07-13-CWS@DET"]
    assert len(parsed.quotes) == 8


def test_future_timestamps_beyond_tolerance() -> None:
    event = odds_event()
    event["bookmakers"][0]["last_update"] = "2024-07-13T15:04:59Z"  # within 5 min: kept
    event["bookmakers"][0]["markets"][0]["last_update"] = "2024-07-13T15:10:00Z"
    event["bookmakers"][1]["last_update"] = "2024-07-13T16:00:00Z"

    parsed = parse_odds([event], source="odds_api", now=NOW)

    assert [(r.field, r.payload["bookmaker"]) for r in parsed.rejected] == [
        ("last_update", "draftkings"),
        ("last_update", {**event["bookmakers"][1]}),
    ]
    assert all("in the future" in r.reason for r in parsed.rejected)
    assert (parsed.quotes[0].market, parsed.quotes[0].book) == ("spreads", "draftkings")
    assert len(parsed.quotes) == 4

    lenient = parse_odds([event], source="odds_api", now=NOW, future_tolerance=timedelta(hours=2))
    assert lenient.rejected == [] and len(lenient.quotes) == 8


def test_row_shapes() -> None:
    event = odds_event()
    event["bookmakers"].append("not a book")
    event["bookmakers"][0]["markets"][0]["outcomes"].append(["list"])
    no_books = odds_event(id="ev3")
    del no_books["bookmakers"]

    parsed = parse_odds([event, 42, no_books], source="odds_api", now=NOW)

    assert sorted(r.field for r in parsed.rejected) == [
        "bookmaker",
        "bookmakers",
        "event",
        "outcome",
    ]
    assert next(r for r in parsed.rejected if r.field == "event").payload == {"value": 42}


def test_whole_payload_of_the_wrong_shape_raises() -> None:
    with pytest.raises(PayloadShapeError):
        parse_odds({"message": "Unknown sport"}, source="odds_api", now=NOW)


def test_doubleheader_and_known_keys() -> None:
    first = odds_event(id="g1", commence_time="2024-07-13T17:05:00Z", bookmakers=[])
    second = odds_event(id="g2", commence_time="2024-07-13T22:05:00Z", bookmakers=[])

    keys = [g.game_key for g in parse_odds([second, first], source="x", now=NOW).games]
    alone = parse_odds([second], source="x", now=NOW, known_keys={"g2": f"{KEY}-2"}).games

    assert keys == [f"{KEY}-2", KEY]
    assert alone[0].game_key == f"{KEY}-2"


def test_game_key_uses_the_new_york_date() -> None:
    late = datetime(2024, 7, 14, 2, 10, tzinfo=UTC)  # 22:10 EDT on the 13th
    assert official_date(late) == date(2024, 7, 13)
    assert make_game_key(date(2024, 7, 13), away="BOS", home="NYY") == KEY
    assert make_game_key(date(2024, 7, 13), away="BOS", home="NYY", game_number=2) == f"{KEY}-2"


def scores_event(**changes: Any) -> dict[str, Any]:
    """An Odds API scores event."""
    event: dict[str, Any] = {
        "id": "ev1",
        "commence_time": "2024-07-12T23:05:00Z",
        "completed": True,
        "home_team": "New York Yankees",
        "away_team": "Boston Red Sox",
        "scores": [
            {"name": "Boston Red Sox", "score": "3"},
            {"name": "New York Yankees", "score": "5"},
        ],
        "last_update": "2024-07-13T02:31:00Z",
    }
    event.update(changes)
    return event


def test_odds_scores_statuses_and_bad_scores() -> None:
    bad_score = scores_event(id="ev4", home_team="Detroit Tigers")
    rows = [
        scores_event(),
        scores_event(id="ev2", completed=False, commence_time="2024-07-13T17:05:00Z"),
        scores_event(id="ev3", completed=False, scores=None, commence_time="2024-07-13T23:00:00Z"),
        bad_score,
        scores_event(id="ev5", completed="yes", home_team="Texas Rangers"),
    ]

    parsed = parse_odds_scores(rows, source="odds_api", now=NOW)

    statuses = [(s.status, s.home_score, s.away_score) for s in parsed.scores]
    assert statuses == [("final", 5, 3), ("live", 5, 3), ("scheduled", None, None)]
    assert [r.field for r in parsed.rejected] == ["name", "completed"]
    assert len(parsed.games) == 5  # the games are known even when their score is not


def test_odds_scores_non_numeric_score() -> None:
    event = scores_event()
    event["scores"][0]["score"] = "three"

    (rejected,) = parse_odds_scores([event], source="odds_api", now=NOW).rejected

    assert rejected.field == "score"


def split(**changes: Any) -> dict[str, Any]:
    """A splits record in our own format."""
    row: dict[str, Any] = {
        "game_key": KEY,
        "market": "h2h",
        "side": "home",
        "tickets_pct": 64.0,
        "money_pct": 41.5,
        "tickets": 812,
        "as_of": "2024-07-13T14:45:00Z",
    }
    row.update(changes)
    return row


def test_splits_by_key_or_by_teams_and_first_pitch() -> None:
    by_teams = split(market="totals", side="Under", tickets=None)
    del by_teams["game_key"]
    by_teams |= {"home": "Yankees", "away": "BOS", "commence_time": "2024-07-13T23:05:00Z"}

    parsed = parse_splits([split(), by_teams], source="splits", now=NOW)

    assert parsed.rejected == []
    assert [(s.game_key, s.market, s.side, s.tickets) for s in parsed.splits] == [
        (KEY, "h2h", "home", 812),
        (KEY, "totals", "under", None),
    ]
    assert parsed.splits[0].as_of == datetime(2024, 7, 13, 14, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tickets_pct": 100.5}, "tickets_pct"),
        ({"money_pct": -1}, "money_pct"),
        ({"money_pct": math.nan}, "money_pct"),
        ({"tickets_pct": "64%"}, "tickets_pct"),
        ({"tickets": -3}, "tickets"),
        ({"tickets": 8.5}, "tickets"),
        ({"market": "props"}, "market"),
        ({"side": "over"}, "side"),
        ({"game_key": "2024-07-13-BOS@XXX"}, "game_key"),
        ({"game_key": "2024-02-30-BOS@NYY"}, "game_key"),
        ({"as_of": "2024-07-13T15:30:00Z"}, "as_of"),
        ({"as_of": None}, "as_of"),
        ({"market": "h2h\r\n"}, "market"),
    ],
)
def test_bad_splits_are_quarantined(changes: dict[str, Any], field: str) -> None:
    parsed = parse_splits([split(**changes), split(side="away")], source="splits", now=NOW)

    (rejected,) = parsed.rejected
    assert (rejected.source, rejected.field) == ("splits", field)
    assert [s.side for s in parsed.splits] == ["away"]


def test_splits_unknown_team_when_named_by_teams() -> None:
    row = {k: v for k, v in split().items() if k != "game_key"}
    row |= {"home": "Brooklyn Dodgers", "away": "BOS", "commence_time": "2024-07-13T23:05:00Z"}

    (rejected,) = parse_splits([row], source="splits", now=NOW).rejected

    assert rejected.field == "home"


def mlb_game(**changes: Any) -> dict[str, Any]:
    """An MLB schedule game."""
    game: dict[str, Any] = {
        "gamePk": 746233,
        "gameDate": "2024-07-13T17:10:00Z",
        "officialDate": "2024-07-13",
        "gameNumber": 1,
        "status": {"abstractGameState": "Final", "detailedState": "Final"},
        "teams": {
            "home": {"team": {"name": "Detroit Tigers"}, "score": 4},
            "away": {"team": {"name": "Chicago White Sox"}, "score": 1},
        },
    }
    game.update(changes)
    return game


@pytest.mark.parametrize(
    ("abstract", "detailed", "status"),
    [
        ("Final", "Postponed", "postponed"),
        ("Final", "Cancelled", "cancelled"),
        ("Live", "Suspended: Rain", "suspended"),
        ("Final", "Game Over", "final"),
        ("Final", "Completed Early: Rain", "final"),
        ("Preview", "Pre-Game", "scheduled"),
        ("Live", "Delayed: Rain", "live"),
    ],
)
def test_mlb_status_mapping(abstract: str, detailed: str, status: str) -> None:
    row = mlb_game(status={"abstractGameState": abstract, "detailedState": detailed})

    (score,) = parse_mlb_schedule({"dates": [{"games": [row]}]}, source="mlb").scores

    assert score.status == status
    if status in {"postponed", "cancelled"}:
        assert (score.home_score, score.away_score) == (None, None)


def test_mlb_bad_rows() -> None:
    no_score = mlb_game(gamePk=1)
    del no_score["teams"]["home"]["score"]
    rows = [
        no_score,
        mlb_game(gamePk=2, status={"abstractGameState": "Other", "detailedState": "Odd"}),
        mlb_game(gamePk=3, officialDate="13/07/2024"),
        mlb_game(gamePk=4, gameNumber=0),
        mlb_game(gamePk="746233"),
        mlb_game(gamePk=6, gameNumber=2),
        mlb_game(gamePk=6, gameNumber=2),
    ]

    parsed = parse_mlb_schedule({"dates": [{"games": rows}, {"date": "x"}]}, source="mlb")

    assert [r.field for r in parsed.rejected] == [
        "teams.home.score",
        "status.abstractGameState",
        "officialDate",
        "gameNumber",
        "gamePk",
        "gamePk",
        "games",
    ]
    assert [g.game_key for g in parsed.games] == ["2024-07-13-CWS@DET-2"]


def test_mlb_wrong_shape_raises() -> None:
    with pytest.raises(PayloadShapeError):
        parse_mlb_schedule([], source="mlb")


def test_parse_timestamp() -> None:
    assert parse_timestamp("2024-07-13T23:05:00Z") == datetime(2024, 7, 13, 23, 5, tzinfo=UTC)
    assert parse_timestamp("2024-07-13T19:05:00-04:00") == datetime(2024, 7, 13, 23, 5, tzinfo=UTC)
    for bad in ("2024-07-13T23:05:00", "2024-07-13", "soon", 1720911900, None):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_content_hash_is_canonical() -> None:
    payload = [odds_event()]
    shuffled = [dict(reversed(list(odds_event().items())))]
    changed = copy.deepcopy(payload)
    dk_outcome(changed[0], 0, 0)["price"] = -143

    assert content_hash(payload) == content_hash(shuffled)
    assert content_hash(payload) != content_hash(changed)
    assert len(content_hash(payload)) == 64


def test_quotes_are_plain_dataclasses() -> None:
    (quote, *_) = parse_odds([odds_event()], source="odds_api", now=NOW).quotes
    assert isinstance(quote, Quote)
