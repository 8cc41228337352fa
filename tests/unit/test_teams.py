"""Team names from every source map to one canonical key; unknown names are never guessed."""

from __future__ import annotations

import pytest

from app.pipelines.teams import TEAMS, canonical_team, normalize_team_name, team_name


def test_thirty_clubs_with_unique_keys_and_names() -> None:
    assert len(TEAMS) == 30
    assert len({team.name for team in TEAMS.values()}) == 30
    assert all(key == team.key for key, team in TEAMS.items())


def test_every_key_name_and_alias_maps_back_to_its_club() -> None:
    for team in TEAMS.values():
        for name in (team.key, team.name, *team.aliases):
            assert canonical_team(name) == team.key, name


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Athletics", "ATH"),
        ("Oakland Athletics", "ATH"),
        ("Oakland A's", "ATH"),
        ("OAK", "ATH"),
        ("Cleveland Guardians", "CLE"),
        ("Cleveland Indians", "CLE"),
        ("LA Dodgers", "LAD"),
        ("L.A. Dodgers", "LAD"),
        ("Los Angeles Angels of Anaheim", "LAA"),
        ("St Louis Cardinals", "STL"),
        ("St. Louis Cardinals", "STL"),
        ("Saint Louis Cardinals", "STL"),
        ("Arizona D-backs", "ARI"),
        ("Tampa Bay Devil Rays", "TB"),
        ("Florida Marlins", "MIA"),
        ("WSN", "WSH"),
        ("CHW", "CWS"),
        ("Chicago White Sox", "CWS"),
        ("Chicago Cubs", "CHC"),
    ],
)
def test_known_aliases(name: str, key: str) -> None:
    assert canonical_team(name) == key


@pytest.mark.parametrize(
    "name",
    [
        "  new   york\tyankees ",
        "NEW YORK YANKEES",
        "New York Yankees\n",
        "\uff4e\uff59\uff59",
        "nyy",
    ],
)
def test_case_width_and_whitespace_insensitive(name: str) -> None:
    assert canonical_team(name) == "NYY"


def test_curly_apostrophe() -> None:
    assert canonical_team("Oakland A\u2019s") == "ATH"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "New York",
        "Los Angeles",
        "LA",
        "Sox",
        "Yankee",
        "Havana Sugar Kings",
        "Montreal Expos",
    ],
)
def test_unknown_or_ambiguous_names_are_not_guessed(name: str) -> None:
    assert canonical_team(name) is None


@pytest.mark.parametrize("value", [None, 147, ["NYY"], b"NYY"])
def test_non_strings_are_unknown(value: object) -> None:
    assert canonical_team(value) is None


def test_team_name_and_normalization() -> None:
    assert team_name("ATH") == "Athletics"
    assert team_name("STL") == "St. Louis Cardinals"
    assert normalize_team_name(" St.  Louis ") == "st louis"
    with pytest.raises(KeyError):
        team_name("XXX")
