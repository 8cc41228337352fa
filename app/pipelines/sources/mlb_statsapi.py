"""MLB Stats API client: the schedule with statuses and final scores, keyed by gamePk."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from app.pipelines.sources.base import Source, SourcePayloadError
from app.pipelines.sources.http_json import build_client, get_json
from app.pipelines.sources.mlb_format import parse_mlb_schedule
from app.pipelines.types import SourceBatch
from app.pipelines.validation import PayloadShapeError, content_hash, official_date


class MlbStatsApiSource(Source):
    """Schedule from `days_back` official dates ago through today: late games end after midnight."""

    name = "mlb_statsapi"
    title = "The MLB Stats API"
    provides = frozenset({"schedule", "results"})

    def __init__(
        self,
        base_url: str = "https://statsapi.mlb.com",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        *,
        days_back: int = 1,
    ) -> None:
        super().__init__()
        if not 0 <= days_back <= 7:
            raise ValueError(f"days_back must be 0..7, not {days_back}")
        self.days_back = days_back
        self._client = build_client(base_url, timeout, transport)

    def __repr__(self) -> str:
        """Identify the source."""
        return f"MlbStatsApiSource(base_url={str(self._client.base_url)!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _fetch(self, now: datetime, kinds: frozenset[str] | None = None) -> SourceBatch:
        """GET the schedule for the official dates in range and validate every game."""
        today = official_date(now)
        params = {
            "sportId": "1",
            "startDate": f"{today - timedelta(days=self.days_back):%Y-%m-%d}",
            "endDate": f"{today:%Y-%m-%d}",
            "hydrate": "linescore",  # innings played, for the house rules on shortened games
        }
        payload, _ = get_json(
            self._client, "/api/v1/schedule", params, source=self.name, title=self.title, now=now
        )
        try:
            parsed = parse_mlb_schedule(payload, source=self.name)
        except PayloadShapeError as exc:
            raise SourcePayloadError(
                self.name, f"{self.title} sent an unexpected payload: {exc}."
            ) from exc
        batch = SourceBatch(self.name, now, raw_hash=content_hash(payload))
        parsed.add_to(batch)
        return batch
