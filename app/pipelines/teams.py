"""The 30 MLB clubs: one canonical key each, the full name, and the names sources use for them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Team:
    """One MLB club: canonical key (abbreviation), current full name, other names seen in feeds."""

    key: str
    name: str
    aliases: tuple[str, ...]


_CLUBS: tuple[Team, ...] = (
    Team("ARI", "Arizona Diamondbacks", ("AZ", "Diamondbacks", "D-backs", "Arizona D-backs")),
    Team("ATL", "Atlanta Braves", ("Braves",)),
    Team("BAL", "Baltimore Orioles", ("Orioles",)),
    Team("BOS", "Boston Red Sox", ("Red Sox",)),
    Team("CHC", "Chicago Cubs", ("Cubs",)),
    Team("CWS", "Chicago White Sox", ("CHW", "White Sox")),
    Team("CIN", "Cincinnati Reds", ("Reds",)),
    Team("CLE", "Cleveland Guardians", ("Guardians", "Cleveland Indians")),
    Team("COL", "Colorado Rockies", ("Rockies",)),
    Team("DET", "Detroit Tigers", ("Tigers",)),
    Team("HOU", "Houston Astros", ("Astros",)),
    Team("KC", "Kansas City Royals", ("KCR", "Royals", "KC Royals")),
    Team(
        "LAA",
        "Los Angeles Angels",
        ("ANA", "Angels", "LA Angels", "Los Angeles Angels of Anaheim", "Anaheim Angels"),
    ),
    Team("LAD", "Los Angeles Dodgers", ("Dodgers", "LA Dodgers")),
    Team("MIA", "Miami Marlins", ("FLA", "Marlins", "Florida Marlins")),
    Team("MIL", "Milwaukee Brewers", ("Brewers",)),
    Team("MIN", "Minnesota Twins", ("Twins",)),
    Team("NYM", "New York Mets", ("Mets", "NY Mets")),
    Team("NYY", "New York Yankees", ("Yankees", "NY Yankees")),
    Team(
        "ATH",
        "Athletics",
        ("OAK", "A's", "Oakland Athletics", "Oakland A's", "Sacramento Athletics"),
    ),
    Team("PHI", "Philadelphia Phillies", ("Phillies",)),
    Team("PIT", "Pittsburgh Pirates", ("Pirates",)),
    Team("SD", "San Diego Padres", ("SDP", "Padres", "SD Padres")),
    Team("SF", "San Francisco Giants", ("SFG", "Giants", "SF Giants")),
    Team("SEA", "Seattle Mariners", ("Mariners",)),
    Team("STL", "St. Louis Cardinals", ("Cardinals", "Saint Louis Cardinals")),
    Team("TB", "Tampa Bay Rays", ("TBR", "Rays", "Tampa Bay Devil Rays")),
    Team("TEX", "Texas Rangers", ("Rangers",)),
    Team("TOR", "Toronto Blue Jays", ("Blue Jays",)),
    Team("WSH", "Washington Nationals", ("WSN", "WAS", "Nationals")),
)

TEAMS: MappingProxyType[str, Team] = MappingProxyType({team.key: team for team in _CLUBS})

_SPACES = re.compile(r"\s+")


def normalize_team_name(name: str) -> str:
    """Case-, width-, punctuation- and whitespace-insensitive form of a team name, for lookup."""
    text = unicodedata.normalize("NFKC", name).replace("\u2019", "'").replace(".", "")
    return _SPACES.sub(" ", text).strip().casefold()


def _build_index() -> dict[str, str]:
    """Every normalized name -> canonical key; an alias claimed by two clubs is a bug."""
    index: dict[str, str] = {}
    for team in _CLUBS:
        for raw in (team.key, team.name, *team.aliases):
            normalized = normalize_team_name(raw)
            owner = index.setdefault(normalized, team.key)
            if owner != team.key:
                raise RuntimeError(f"team alias {raw!r} is claimed by {owner} and {team.key}")
    return index


_INDEX = _build_index()
_EXACT = {raw: team.key for team in _CLUBS for raw in (team.key, team.name, *team.aliases)}


def canonical_team(name: object) -> str | None:
    """The canonical key for a team name or alias; None for anything unknown (never a guess)."""
    if not isinstance(name, str):
        return None
    key = _EXACT.get(name)  # fast path: feeds repeat the same spellings thousands of times
    return key if key is not None else _INDEX.get(normalize_team_name(name))


def team_name(key: str) -> str:
    """The current full name for a canonical key; KeyError for an unknown key."""
    return TEAMS[key].name
