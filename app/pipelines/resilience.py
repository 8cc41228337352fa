"""Per-source resilience inside a collection: retries with backoff that honour Retry-After, a
wait across ticks when a source asks for longer, and a circuit breaker per source.

A source that fails while the others answer is a failure of THAT source, even though the run
is only `partial`: it is retried here, counted on its own breaker (so The Odds API can be open
while the MLB Stats API keeps working) and its breaker raises its own alert. The breaker book
is handed in through the pipeline context (the scheduler's database-backed BreakerBook keyed
`source:<name>`); the domain only knows this small interface.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.pipelines.sources.base import (
    SourceError,
    SourcePayloadError,
    SourceRateLimited,
    SourceTimeout,
    SourceUnavailable,
)

RETRYABLE = (SourceRateLimited, SourceTimeout, SourceUnavailable, SourcePayloadError)


class BreakerVerdict(Protocol):
    """What a breaker answers: may the source be called now, and why not."""

    allowed: bool
    reason: str


class SourceBreakers(Protocol):
    """Circuit breakers by name, shared by every worker (scheduler.resilience.BreakerBook)."""

    def allow(self, name: str) -> Any:
        """A BreakerVerdict for `name` now."""

    def record_success(self, name: str) -> Any:
        """`name` worked: close its breaker."""

    def record_failure(self, name: str) -> bool:
        """`name` failed: count it; True when this opened the breaker."""


def breaker_name(source: str) -> str:
    """The breaker (and its alert) of one source."""
    return f"source:{source}"


@dataclass(frozen=True, slots=True)
class SourceRetryPolicy:
    """Attempts per collection, waits base * factor**(n-1) (+/- jitter) or Retry-After if longer.

    A Retry-After longer than `max_wait_s` is not waited for inside the run: the source is
    left alone until then (SourceState.retry_at) and the run says so.
    """

    attempts: int = 3
    base_s: float = 2.0
    factor: float = 2.0
    jitter: float = 0.1
    max_wait_s: float = 30.0
    rng: Callable[[], float] = random.random

    def delay_s(self, attempt: int, error: SourceError) -> float:
        """Seconds before the attempt after `attempt` (1-based): backoff, or Retry-After."""
        backoff = self.base_s * self.factor ** (attempt - 1)
        backoff *= 1.0 + self.jitter * (2.0 * self.rng() - 1.0)
        asked = getattr(error, "retry_after", None)
        return max(backoff, asked or 0.0)


@dataclass(slots=True)
class FetchAttempts:
    """How one source's fetch went: the batch or the last error, and every wait taken."""

    batch: Any = None
    error: SourceError | None = None
    waits: list[float] | None = None
    retry_at: datetime | None = None  # do not call the source before this (Retry-After)


def fetch_with_retries(
    fetch: Callable[[datetime], Any],
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    policy: SourceRetryPolicy,
) -> FetchAttempts:
    """Call `fetch(now)` until it works or the policy gives up; waits go through `sleep`."""
    waits: list[float] = []
    for attempt in range(1, policy.attempts + 1):
        try:
            return FetchAttempts(batch=fetch(clock()), waits=waits)
        except SourceError as exc:
            retryable = isinstance(exc, RETRYABLE)
            delay = policy.delay_s(attempt, exc)
            if not retryable or attempt == policy.attempts or delay > policy.max_wait_s:
                asked = getattr(exc, "retry_after", None)
                retry_at = clock() + timedelta(seconds=asked) if asked else None
                return FetchAttempts(error=exc, waits=waits, retry_at=retry_at)
            waits.append(delay)
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns")
