"""The quota plan: cadence by time to first pitch, stretched to last until reset, reserve kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.pipelines.quota import (
    QuotaPlan,
    alert_reason,
    band_interval,
    burn_rate,
    next_reset,
    overview,
    plan_poll,
)

NOW = datetime(2024, 7, 13, 16, 0, tzinfo=UTC)
PLAN = QuotaPlan(monthly_credits=20_000, reserve_credits=1_000)


def test_bands_by_time_to_the_next_first_pitch() -> None:
    assert band_interval(PLAN, NOW, [NOW + timedelta(minutes=20)]) == PLAN.hot_interval_s
    assert band_interval(PLAN, NOW, [NOW + timedelta(hours=2)]) == PLAN.warm_interval_s
    assert band_interval(PLAN, NOW, [NOW + timedelta(hours=8)]) == PLAN.cool_interval_s
    assert band_interval(PLAN, NOW, [NOW - timedelta(hours=1)]) == PLAN.idle_interval_s
    assert band_interval(PLAN, NOW, []) == PLAN.idle_interval_s


def test_next_reset() -> None:
    assert next_reset(NOW, 1) == datetime(2024, 8, 1, tzinfo=UTC)
    assert next_reset(datetime(2024, 12, 20, tzinfo=UTC), 15) == datetime(2025, 1, 15, tzinfo=UTC)
    assert next_reset(datetime(2024, 7, 1, tzinfo=UTC), 1) == datetime(2024, 8, 1, tzinfo=UTC)


def test_plenty_of_credits_polls_at_the_band_and_waits_between_polls() -> None:
    pitch = [NOW + timedelta(minutes=20)]
    first = plan_poll(PLAN, NOW, pitch, None, remaining=19_000)
    assert first.poll and first.stretch == 1.0 and first.interval_s == PLAN.hot_interval_s
    again = plan_poll(PLAN, NOW + timedelta(seconds=10), pitch, NOW, remaining=19_000)
    assert not again.poll and again.next_at == NOW + timedelta(seconds=30)


def test_few_credits_stretch_every_interval_by_one_factor() -> None:
    day = [NOW + timedelta(hours=h) for h in (1, 3, 7)]
    rich = plan_poll(PLAN, NOW, day, None, remaining=19_000)
    poor = plan_poll(PLAN, NOW, day, None, remaining=3_000)
    assert poor.stretch > rich.stretch >= 1.0
    assert poor.interval_s == pytest.approx(band_interval(PLAN, NOW, day) * poor.stretch)


def test_the_reserve_is_never_spent() -> None:
    decision = plan_poll(PLAN, NOW, [NOW + timedelta(minutes=5)], None, remaining=1_002)
    assert not decision.poll and "reserve" in decision.reason


def test_burn_rate_run_out_and_alert() -> None:
    samples = [(NOW - timedelta(days=2), 12_000), (NOW - timedelta(days=1), 9_000), (NOW, 6_000)]
    assert burn_rate(samples) == pytest.approx(3_000.0)
    view = overview(PLAN, "odds_api", NOW, samples)
    assert view.run_out_at == NOW + timedelta(days=2) and view.runs_out_before_reset
    assert "run out 2024-07-15" in (alert_reason(PLAN, view) or "")
    calm = overview(PLAN, "odds_api", NOW, [(NOW - timedelta(days=1), 6_300), (NOW, 6_000)])
    assert alert_reason(PLAN, calm) is None
    assert "reserve" in (alert_reason(PLAN, overview(PLAN, "odds_api", NOW, [(NOW, 900)])) or "")


def test_a_bad_plan_names_the_setting() -> None:
    with pytest.raises(ValueError, match="DUGOUT_ODDS_API_RESERVE_CREDITS"):
        QuotaPlan(monthly_credits=100, reserve_credits=100)
