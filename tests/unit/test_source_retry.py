"""Per-source retries: backoff, Retry-After honoured, long waits left to later ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.pipelines.resilience import SourceRetryPolicy, fetch_with_retries
from app.pipelines.sources.base import SourceAuthError, SourceRateLimited, SourceUnavailable

T0 = datetime(2024, 7, 13, 18, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now, self.waits = T0, []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)


def failing(*errors: Exception):
    calls: list[datetime] = []

    def fetch(now: datetime) -> str:
        calls.append(now)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "batch"

    return fetch, calls


POLICY = SourceRetryPolicy(attempts=3, base_s=2.0, factor=2.0, jitter=0.0, max_wait_s=30.0)


def test_retry_after_beats_a_shorter_backoff() -> None:
    clock = Clock()
    limited = SourceRateLimited("odds_api", "429", retry_after=7.0)
    fetch, calls = failing(limited, limited)

    result = fetch_with_retries(fetch, clock, clock.sleep, POLICY)

    assert result.batch == "batch" and clock.waits == [7.0, 7.0]
    assert calls == [T0, T0 + timedelta(seconds=7), T0 + timedelta(seconds=14)]


def test_backoff_without_retry_after() -> None:
    clock = Clock()
    down = SourceUnavailable("odds_api", "503", 503)
    fetch, _ = failing(down, down, down)

    result = fetch_with_retries(fetch, clock, clock.sleep, POLICY)

    assert result.error is down and clock.waits == [2.0, 4.0] and result.retry_at is None


def test_a_long_retry_after_is_not_waited_in_the_run() -> None:
    clock = Clock()
    fetch, calls = failing(SourceRateLimited("odds_api", "429", retry_after=120.0))

    result = fetch_with_retries(fetch, clock, clock.sleep, POLICY)

    assert clock.waits == [] and len(calls) == 1
    assert result.retry_at == T0 + timedelta(seconds=120)


def test_credentials_refused_are_not_retried() -> None:
    clock = Clock()
    fetch, calls = failing(SourceAuthError("odds_api", "401"))
    result = fetch_with_retries(fetch, clock, clock.sleep, POLICY)
    assert isinstance(result.error, SourceAuthError) and len(calls) == 1 and clock.waits == []
