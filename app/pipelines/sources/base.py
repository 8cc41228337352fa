"""The Source abstraction (one public `fetch`) and the typed errors every source raises."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from app.pipelines.types import DATA_KINDS, SourceBatch

log = logging.getLogger(__name__)


class SourceError(Exception):
    """A source could not deliver; the message is a plain sentence that names the source."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source


class SourceAuthError(SourceError):
    """The source refused our credentials (HTTP 401/403)."""


class SourceBadRequest(SourceError):
    """The source refused the request parameters (HTTP 400/422)."""


class SourceRateLimited(SourceError):
    """The source is rate limiting us or the quota is spent (HTTP 429)."""

    def __init__(self, source: str, message: str, retry_after: float | None) -> None:
        super().__init__(source, message)
        self.retry_after = retry_after  # seconds, from Retry-After; None when not given


class SourceUnavailable(SourceError):
    """The source is down or unreachable (HTTP 5xx; `status` is None when nothing answered)."""

    def __init__(self, source: str, message: str, status: int | None) -> None:
        super().__init__(source, message)
        self.status = status


class SourceTimeout(SourceError):
    """The source did not answer in time."""


class SourcePayloadError(SourceError):
    """The source answered with something that is not the documented payload (bad JSON, shape)."""


@dataclass(slots=True)
class FetchStats:
    """Bookkeeping for one source instance: counts and the last fetch's duration and error."""

    fetches: int = 0
    failures: int = 0
    last_duration_s: float | None = None
    last_error: SourceError | None = None


class Source(ABC):
    """A market data source: `fetch(now)` times and records the call; `_fetch` does the work."""

    name: str = "source"  # stable key stored with every row, e.g. "odds_api"
    title: str = "Source"  # human name used in error messages, e.g. "The Odds API"
    sharp_books: frozenset[str] = frozenset()  # books this source knows to be sharp
    # What this source says (DataKind): freshness is judged per kind, and a source that only
    # gives schedule or results never makes analysis `partial`.
    provides: frozenset[str] = frozenset(DATA_KINDS)
    metered: frozenset[str] = frozenset()  # kinds whose requests spend a paid quota

    def __init__(self) -> None:
        self.stats = FetchStats()

    def fetch(self, now: datetime, kinds: frozenset[str] | None = None) -> SourceBatch:
        """What the source has as of `now` (aware), validated; SourceError on failure.

        `kinds` narrows a metered source to some of what it provides (the quota plan holds
        paid requests back); None fetches everything."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("fetch needs an aware `now` (UTC), not a naive datetime")
        now = now.astimezone(UTC)
        started = time.perf_counter()
        try:
            batch = self._fetch(now) if kinds is None else self._fetch(now, kinds)
        except SourceError as exc:
            self.stats.failures += 1
            self.stats.last_error = exc
            log.warning(
                "source fetch failed",
                extra={"source": self.name, "error_type": type(exc).__name__},
            )
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.stats.fetches += 1
            self.stats.last_duration_s = elapsed
        self.stats.last_error = None
        log.debug(
            "source fetched",
            extra={
                "source": self.name,
                "duration_ms": round(elapsed * 1000, 2),
                "games": len(batch.games),
                "quotes": len(batch.quotes),
                "splits": len(batch.splits),
                "scores": len(batch.scores),
                "rejected": len(batch.rejected),
            },
        )
        return batch

    @abstractmethod
    def _fetch(self, now: datetime, kinds: frozenset[str] | None = None) -> SourceBatch:
        """Fetch and validate (only `kinds`, when given, for a metered source); raise a
        SourceError subclass for anything the caller can act on."""

    def close(self) -> None:  # noqa: B027 - optional hook: most sources hold nothing to close
        """Release connections; a source without any keeps the default no-op."""

    def __enter__(self) -> Source:
        """Use as a context manager so connections are closed."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close on the way out."""
        self.close()
