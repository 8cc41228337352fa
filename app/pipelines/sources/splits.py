"""A pluggable betting-splits source: a JSON or CSV file or URL in Dugout's documented format.

No public API publishes tickets % and money %; a user with a paid splits feed points Dugout at
it (DUGOUT_SPLITS_SOURCE, a path or an http(s) URL). One record per game, market and side:

    game_key | (home, away, commence_time[, game_number]),  market (h2h|spreads|totals),
    side (home|away|over|under), tickets_pct (0-100), money_pct (0-100), tickets (optional,
    a count), as_of (ISO 8601 with a zone)

JSON: an array of such objects. CSV: a header row with those column names; empty cells are
absent values. Every row is validated like the other feeds': a bad one is quarantined with its
field and reason, the rest are kept.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from app.pipelines.sources.base import Source, SourcePayloadError, SourceUnavailable
from app.pipelines.sources.http_json import build_client, get_json
from app.pipelines.types import SourceBatch
from app.pipelines.validation import PayloadShapeError, content_hash, parse_splits

FORMATS = ("auto", "json", "csv")
_NUMBERS = {"tickets_pct": float, "money_pct": float, "tickets": int, "game_number": int}


def csv_records(text: str) -> list[dict[str, Any]]:
    """CSV rows as records: empty cells dropped, numeric columns as numbers when they parse
    (a cell that does not parse stays text, so validation names it)."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise PayloadShapeError("splits CSV has no header row")
    records = []
    for row in reader:
        record: dict[str, Any] = {}
        for key, value in row.items():
            if key is None or value is None or not value.strip():
                continue
            cast = _NUMBERS.get(key.strip())
            text_value = value.strip()
            try:
                record[key.strip()] = cast(text_value) if cast else text_value
            except ValueError:
                record[key.strip()] = text_value
        records.append(record)
    return records


class SplitsFeedSource(Source):
    """Betting splits from a file or URL, JSON or CSV (`format` auto: by extension)."""

    name = "splits"
    title = "The splits feed"
    provides = frozenset({"splits"})

    def __init__(
        self,
        location: str,
        format: str = "auto",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__()
        if format not in FORMATS:
            raise ValueError(f"splits format must be one of {', '.join(FORMATS)}, not {format!r}")
        if not location.strip():
            raise ValueError("a splits source needs a path or URL")
        self.location = location.strip()
        self.is_url = self.location.startswith(("http://", "https://"))
        self.format = format
        if format == "auto":
            self.format = "csv" if self.location.split("?")[0].lower().endswith(".csv") else "json"
        self._client = build_client("", timeout, transport) if self.is_url else None

    def __repr__(self) -> str:
        """Identify the feed."""
        return f"SplitsFeedSource({self.location!r}, format={self.format!r})"

    def close(self) -> None:
        """Close the HTTP connection pool, if any."""
        if self._client is not None:
            self._client.close()

    def _read(self, now: datetime) -> Any:
        """The records: JSON decoded, or CSV rows as records."""
        if self._client is not None:
            if self.format == "json":
                return get_json(
                    self._client, self.location, {}, source=self.name, title=self.title, now=now
                )[0]
            try:
                response = self._client.get(self.location)
            except httpx.HTTPError as exc:
                raise SourceUnavailable(
                    self.name, f"{self.title} could not be reached ({type(exc).__name__}).", None
                ) from None
            if response.status_code != 200:
                raise SourceUnavailable(
                    self.name,
                    f"{self.title} answered HTTP {response.status_code}.",
                    response.status_code,
                )
            text = response.text
        else:
            try:
                text = Path(self.location).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise SourceUnavailable(
                    self.name, f"{self.title} could not be read ({type(exc).__name__}).", None
                ) from None
            if self.format == "json":
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    raise SourcePayloadError(
                        self.name, f"{self.title} is not valid JSON."
                    ) from None
        try:
            return csv_records(text)
        except (PayloadShapeError, csv.Error) as exc:
            raise SourcePayloadError(self.name, f"{self.title} is not valid CSV: {exc}.") from None

    def _fetch(self, now: datetime, kinds: frozenset[str] | None = None) -> SourceBatch:
        """Read, validate and quarantine the splits records."""
        records = self._read(now)
        try:
            parsed = parse_splits(records, source=self.name, now=now)
        except PayloadShapeError as exc:
            raise SourcePayloadError(self.name, f"{self.title}: {exc}.") from exc
        batch = SourceBatch(self.name, now, raw_hash=content_hash(records))
        parsed.add_to(batch)
        return batch
