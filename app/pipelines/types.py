"""Plain data passed between the sources, the strategies and the stages; no I/O, no web."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Market = Literal["h2h", "spreads", "totals"]
# What a source can say; freshness is judged per kind (quotes and splits feed the strategies,
# schedule and results only keys, start times and grading).
DataKind = Literal["quotes", "splits", "schedule", "results"]
DATA_KINDS: tuple[DataKind, ...] = ("quotes", "splits", "schedule", "results")
Side = Literal["home", "away", "over", "under"]
MARKETS: tuple[Market, ...] = ("h2h", "spreads", "totals")
SIDES_BY_MARKET: dict[str, tuple[Side, Side]] = {
    "h2h": ("home", "away"),
    "spreads": ("home", "away"),
    "totals": ("over", "under"),
}


@dataclass(frozen=True, slots=True)
class Game:
    """One MLB game; `game_key` is stable across sources for the same game."""

    game_key: str
    home: str  # canonical team key, e.g. "NYY"
    away: str
    commence_time: datetime  # aware, UTC
    source_ref: str | None = None  # Odds API event id or MLB gamePk
    game_number: int = 1  # MLB gameNumber (2 for a doubleheader's nightcap)
    schedule: bool = False  # from an official schedule (MLB): its key is authoritative
    start_tbd: bool = False  # the start time is a placeholder (MLB startTimeTBD)
    resumed: bool = False  # the schedule row resumes a suspended game (MLB resumedFrom)


@dataclass(frozen=True, slots=True)
class Quote:
    """One book's price for one side of one market at one moment."""

    game_key: str
    market: str
    side: str
    book: str
    price: int  # American odds
    point: float | None  # spreads / totals line; None for h2h
    last_update: datetime  # aware, UTC: the source's timestamp for this price


@dataclass(frozen=True, slots=True)
class Split:
    """Public betting split for one side: share of tickets and of money."""

    game_key: str
    market: str
    side: str
    tickets_pct: float  # 0..100
    money_pct: float  # 0..100
    tickets: int | None
    as_of: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class Score:
    """A game's result state from a scores source."""

    game_key: str
    status: Literal["scheduled", "live", "final", "postponed", "cancelled", "suspended"]
    home_score: int | None
    away_score: int | None
    detail: str | None = None  # the source's own wording, e.g. MLB "Completed Early: Rain"
    innings: float | None = None  # innings played, 8.5 when the home half of the 9th was not


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that failed validation: kept, never silently dropped."""

    source: str
    field: str
    reason: str
    payload: dict[str, Any]


@dataclass(slots=True)
class SourceBatch:
    """Everything one fetch from one source produced, already validated."""

    source: str
    fetched_at: datetime
    games: list[Game] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    splits: list[Split] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    quota: dict[str, int] | None = None  # x-requests-remaining / used / last
    raw_hash: str | None = None  # sha256 of the raw payload, for idempotent snapshots


@dataclass(slots=True)
class MarketState:
    """What the strategies see: games, quote history and split history in a lookback window."""

    games: dict[str, Game]
    history: list[Quote]  # sorted by last_update ascending
    splits: list[Split]  # sorted by as_of ascending
    sharp_books: frozenset[str]


@dataclass(frozen=True, slots=True)
class Opportunity:
    """A betting opportunity a strategy found."""

    strategy: str
    game_key: str
    market: str
    side: str
    book: str
    price: int  # American odds offered
    point: float | None
    fair_prob: float | None  # devigged probability of this side, when the strategy has one
    ev: float  # expected value per unit staked (0.05 = +5%); arbitrage: guaranteed profit
    kelly_fraction: float  # recommended fraction of bankroll (fractional Kelly, capped)
    data_available_at: datetime
    detected_at: datetime
    explanation: str
