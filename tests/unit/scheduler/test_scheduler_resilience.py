"""Retry backoff and jitter, breaker transitions with an injected clock, throttling."""

from __future__ import annotations

import pytest

from app.models import Alert
from scheduler.alerts import AlertBook, breaker_key
from scheduler.resilience import BreakerBook, LoadSample, RetryPolicy, SystemLoad, Throttle


def test_default_backoff_is_30_60_120_seconds_without_jitter() -> None:
    policy = RetryPolicy(max_retries=3, base_s=30, factor=2, jitter=0.0)
    assert [policy.delay_s(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert [policy.should_retry(n) for n in (1, 2, 3, 4)] == [True, True, True, False]


@pytest.mark.parametrize("draw, expected", [(0.0, 0.09), (0.5, 0.1), (0.999999, 0.11)])
def test_jitter_spreads_each_delay_within_its_band(draw: float, expected: float) -> None:
    policy = RetryPolicy(base_s=0.1, jitter=0.1, rng=lambda: draw)
    assert policy.delay_s(1) == pytest.approx(expected, abs=1e-6)


def _book(sessions, clock, **kw) -> BreakerBook:
    return BreakerBook(
        sessions,
        threshold=kw.get("threshold", 3),
        cooldown_s=kw.get("cooldown_s", 60),
        clock=clock,
        alerts=AlertBook(sessions, clock),
    )


def test_breaker_opens_after_threshold_and_alerts(sessions, clock) -> None:
    book = _book(sessions, clock)
    assert book.allow("collection").allowed
    assert [book.record_failure("collection") for _ in range(3)] == [False, False, True]
    decision = book.allow("collection")
    assert not decision.allowed and decision.state == "open"
    assert "3 consecutive failures" in decision.reason
    with sessions() as s:
        alert = s.query(Alert).filter_by(key=breaker_key("collection")).one()
        assert alert.status == "firing"


def test_success_resets_the_failure_count(sessions, clock) -> None:
    book = _book(sessions, clock)
    book.record_failure("grading")
    book.record_failure("grading")
    assert book.record_success("grading") == "closed"
    assert book.state("grading") == ("closed", 0)
    assert not book.record_failure("grading")


def test_half_open_probe_after_cooldown_closes_on_success(sessions, clock) -> None:
    book = _book(sessions, clock, threshold=1, cooldown_s=60)
    assert book.record_failure("collection")
    clock.advance(59)
    assert not book.allow("collection").allowed
    clock.advance(1)
    probe = book.allow("collection")
    assert probe.allowed and probe.state == "half_open"
    assert not book.allow("collection").allowed  # one probe at a time
    assert book.record_success("collection") == "half_open"
    assert book.state("collection") == ("closed", 0)
    assert not AlertBook(sessions, clock).firing(breaker_key("collection"))


def test_half_open_probe_failure_reopens(sessions, clock) -> None:
    book = _book(sessions, clock, threshold=2, cooldown_s=10)
    book.record_failure("x")
    book.record_failure("x")
    clock.advance(10)
    assert book.allow("x").state == "half_open"
    assert book.record_failure("x")  # the probe failed: open again, cooldown restarts
    clock.advance(9)
    assert not book.allow("x").allowed
    clock.advance(1)
    assert book.allow("x").allowed


def test_a_lost_probe_frees_up_after_another_cooldown(sessions, clock) -> None:
    book = _book(sessions, clock, threshold=1, cooldown_s=30)
    book.record_failure("x")
    clock.advance(30)
    assert book.allow("x").state == "half_open"  # ...and the probe's worker dies
    clock.advance(29)
    assert not book.allow("x").allowed
    clock.advance(1)
    assert book.allow("x").allowed


def test_reset_closes_an_open_breaker(sessions, clock) -> None:
    book = _book(sessions, clock, threshold=1)
    book.record_failure("x")
    assert book.reset("x") == "open"
    assert book.allow("x").allowed


def test_throttle_spares_critical_and_names_the_reason() -> None:
    load = LoadSample(cpu_pct=10, mem_pct=10)
    throttle = Throttle(max_runs=2, cpu_pct=80, mem_pct=80, probe=lambda: load)
    assert throttle.verdict("critical", in_flight=99) is None
    assert throttle.verdict("default", in_flight=1) is None
    assert throttle.verdict("default", in_flight=2) == "2 runs in flight (limit 2)"
    load = LoadSample(cpu_pct=85, mem_pct=10)
    assert "CPU at 85%" in (throttle.verdict("low", 0) or "")
    load = LoadSample(cpu_pct=5, mem_pct=95)
    assert "memory at 95%" in (throttle.verdict("default", 0) or "")


def test_system_load_reads_this_machine() -> None:
    probe = SystemLoad()
    sample = probe()
    assert 0.0 <= sample.cpu_pct <= 100.0 and 0.0 < sample.mem_pct < 100.0
