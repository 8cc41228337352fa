"""The Odds API v4 client: MLB odds (h2h, spreads, totals), events and scores, with quota
bookkeeping. Only `/odds` (markets x regions credits) and `/scores` cost credits; `/events` is
free, so a tick on which the quota plan holds the odds back still refreshes events and start
times from it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.pipelines.sources.base import Source, SourcePayloadError
from app.pipelines.sources.http_json import build_client, get_json
from app.pipelines.sources.odds_api_format import parse_events, parse_odds, parse_odds_scores
from app.pipelines.types import SourceBatch
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


class OddsApiSource(Source):
    """Odds (american, ISO dates, games not yet started) and, unless `scores_days_from` is
    None, scores; events (free) when the odds are not wanted this tick."""

    name = "odds_api"
    title = "The Odds API"
    sharp_books = frozenset({"pinnacle", "circa"})
    provides = frozenset({"quotes", "schedule", "results"})
    metered = frozenset({"quotes", "results"})  # kinds whose requests cost credits

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
        if scores_days_from is None:
            self.provides = frozenset({"quotes", "schedule"})

    def __repr__(self) -> str:
        """Identify the source without the API key."""
        return f"OddsApiSource(base_url={str(self._client.base_url)!r}, markets={self.markets!r})"

    @property
    def credits_per_poll(self) -> int:
        """Credits one odds request costs: markets x regions (bookmakers count as one region
        per 10 books, rounded up)."""
        markets = len([m for m in self.markets.split(",") if m.strip()])
        if self.bookmakers:
            books = len([b for b in self.bookmakers.split(",") if b.strip()])
            return markets * max(1, -(-books // 10))
        return markets * len([r for r in self.regions.split(",") if r.strip()])

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _odds_params(self, now: datetime) -> dict[str, str]:
        """Query parameters for the odds endpoint; `bookmakers` overrides `regions`. Games that
        have started are left out (`commenceTimeFrom`): in-play prices are never a close."""
        params = {
            "markets": self.markets,
            "oddsFormat": "american",
            "dateFormat": "iso",
            "commenceTimeFrom": f"{now:%Y-%m-%dT%H:%M:%SZ}",
        }
        if self.bookmakers:
            params["bookmakers"] = self.bookmakers
        else:
            params["regions"] = self.regions
        return params

    def _fetch(self, now: datetime, kinds: frozenset[str] | None = None) -> SourceBatch:
        """GET odds (or the free events), then scores, validate them, record the quota and a
        hash of the raw payloads."""
        kinds = self.provides if kinds is None else kinds
        batch = SourceBatch(self.name, now)
        raw: dict[str, Any] = {}
        responses = []
        if "quotes" in kinds:
            raw["odds"], response = self._get(
                f"/v4/sports/{SPORT}/odds", self._odds_params(now), now
            )
            self._parse(parse_odds, raw["odds"], now).add_to(batch)
        else:
            params = {"dateFormat": "iso", "commenceTimeFrom": f"{now:%Y-%m-%dT%H:%M:%SZ}"}
            raw["events"], response = self._get(f"/v4/sports/{SPORT}/events", params, now)
            self._parse(parse_events, raw["events"], now).add_to(batch)
        responses.append(response)
        if self.scores_days_from is not None and "results" in kinds:
            params = {"daysFrom": str(self.scores_days_from), "dateFormat": "iso"}
            raw["scores"], response = self._get(f"/v4/sports/{SPORT}/scores", params, now)
            self._parse(parse_odds_scores, raw["scores"], now).add_to(batch)
            responses.append(response)
        batch.quota = _quota(responses)
        batch.raw_hash = content_hash(raw)
        return batch

    def _get(self, path: str, params: dict[str, str], now: datetime) -> tuple[Any, httpx.Response]:
        """One GET through the shared error mapping."""
        return get_json(self._client, path, params, source=self.name, title=self.title, now=now)

    def _parse(self, parser: Callable[..., Parsed], payload: Any, now: datetime) -> Parsed:
        """Run a format parser; a payload of the wrong shape is a SourcePayloadError."""
        try:
            return parser(
                payload, source=self.name, now=now, future_tolerance=self.future_tolerance
            )
        except PayloadShapeError as exc:
            raise SourcePayloadError(
                self.name, f"{self.title} sent an unexpected payload: {exc}."
            ) from exc


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
