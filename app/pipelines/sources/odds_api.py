"""The Odds API v4 client: MLB odds (h2h, spreads, totals) and scores, with quota bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.pipelines.sources.base import Source, SourcePayloadError
from app.pipelines.sources.http_json import build_client, get_json
from app.pipelines.sources.odds_api_format import parse_odds, parse_odds_scores
from app.pipelines.types import Game, SourceBatch
from app.pipelines.validation import (
    DEFAULT_FUTURE_TOLERANCE,
    Parsed,
    PayloadShapeError,
    content_hash,
)

SPORT = "baseball_mlb"
_QUOTA_HEADERS = {
    "remaining": "x-requests-remaining",
    "used": "x-requests-used",
    "last": "x-requests-last",
}
_REMEMBER_FOR = timedelta(days=2)


class OddsApiSource(Source):
    """Odds (american, ISO dates) and, unless `scores_days_from` is None, scores in one fetch."""

    name = "odds_api"
    title = "The Odds API"
    sharp_books = frozenset({"pinnacle", "circa"})

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.the-odds-api.com",
        regions: str = "us",
        markets: str = "h2h,spreads,totals",
        bookmakers: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        *,
        scores_days_from: int | None = 1,
        future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    ) -> None:
        super().__init__()
        if not api_key or not api_key.strip():
            raise ValueError("The Odds API needs an API key")
        if scores_days_from is not None and not 1 <= scores_days_from <= 3:
            raise ValueError(f"scores_days_from must be 1..3, not {scores_days_from}")
        self.regions, self.markets, self.bookmakers = regions, markets, bookmakers
        self.scores_days_from = scores_days_from
        self.future_tolerance = future_tolerance
        self._client = build_client(base_url, timeout, transport, ("apiKey", api_key))
        self._known: dict[str, Game] = {}  # event id -> game, so a lone nightcap keeps its -2

    def __repr__(self) -> str:
        """Identify the source without the API key."""
        return f"OddsApiSource(base_url={str(self._client.base_url)!r}, markets={self.markets!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _odds_params(self) -> dict[str, str]:
        """Query parameters for the odds endpoint; `bookmakers` overrides `regions`."""
        params = {"markets": self.markets, "oddsFormat": "american", "dateFormat": "iso"}
        if self.bookmakers:
            params["bookmakers"] = self.bookmakers
        else:
            params["regions"] = self.regions
        return params

    def _fetch(self, now: datetime) -> SourceBatch:
        """GET odds (and scores), validate both, record the quota and a hash of the raw payloads."""
        batch = SourceBatch(self.name, now)
        known_keys = {event_id: game.game_key for event_id, game in self._known.items()}
        odds, response = self._get(f"/v4/sports/{SPORT}/odds", self._odds_params(), now)
        self._parse(parse_odds, odds, now, known_keys).add_to(batch)
        responses = [response]
        raw: dict[str, Any] = {"odds": odds}
        if self.scores_days_from is not None:
            params = {"daysFrom": str(self.scores_days_from), "dateFormat": "iso"}
            raw["scores"], response = self._get(f"/v4/sports/{SPORT}/scores", params, now)
            self._parse(parse_odds_scores, raw["scores"], now, known_keys).add_to(batch)
            responses.append(response)
        batch.quota = _quota(responses)
        batch.raw_hash = content_hash(raw)
        self._remember(batch.games, now)
        return batch

    def _get(self, path: str, params: dict[str, str], now: datetime) -> tuple[Any, httpx.Response]:
        """One GET through the shared error mapping."""
        return get_json(self._client, path, params, source=self.name, title=self.title, now=now)

    def _parse(
        self,
        parser: Callable[..., Parsed],
        payload: Any,
        now: datetime,
        known_keys: dict[str, str],
    ) -> Parsed:
        """Run a format parser; a payload of the wrong shape is a SourcePayloadError."""
        try:
            return parser(
                payload,
                source=self.name,
                now=now,
                future_tolerance=self.future_tolerance,
                known_keys=known_keys,
            )
        except PayloadShapeError as exc:
            raise SourcePayloadError(
                self.name, f"{self.title} sent an unexpected payload: {exc}."
            ) from exc

    def _remember(self, games: list[Game], now: datetime) -> None:
        """Keep event id -> game for two days, forgetting older games."""
        for game in games:
            if game.source_ref is not None:
                self._known.setdefault(game.source_ref, game)
        horizon = now - _REMEMBER_FOR
        self._known = {k: g for k, g in self._known.items() if g.commence_time >= horizon}


def _quota(responses: list[httpx.Response]) -> dict[str, int] | None:
    """remaining/used from the newest response, last = credits this fetch spent in total."""
    quota: dict[str, int] = {}
    for response in responses:
        for field, header in _QUOTA_HEADERS.items():
            raw = response.headers.get(header)
            try:
                value = int(float(raw)) if raw is not None else None
            except ValueError:
                value = None
            if value is None:
                continue
            quota[field] = quota.get(field, 0) + value if field == "last" else value
    return quota or None
