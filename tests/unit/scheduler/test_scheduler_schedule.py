"""The schedule table, its seed, tick arithmetic and the configuration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.config import ConfigError, load_settings
from app.models import JobSchedule
from scheduler.config import SchedulerConfig
from scheduler.schedule import (
    ANCHOR,
    DEFAULT_SCHEDULE,
    latest_tick,
    load_schedule,
    seed_schedule,
    upstream_of,
)


def test_seed_fills_an_empty_table_only(sessions) -> None:
    assert seed_schedule(sessions) == len(DEFAULT_SCHEDULE)
    with sessions.begin() as s:
        s.get(JobSchedule, "collection").interval_s = 30
    assert seed_schedule(sessions) == 0
    specs = load_schedule(sessions)
    assert specs["collection"].interval_s == 30 and specs["collection"].executor == "critical"
    assert specs["analysis"].chained and specs["grading"].interval_s == 900


def test_dependencies() -> None:
    assert upstream_of("analysis") == "collection"
    assert upstream_of("recommendations") == "analysis"
    assert upstream_of("collection") is None


@pytest.mark.parametrize(
    "now, interval, expected",
    [
        (
            datetime(2026, 7, 4, 18, 0, 59, 999999, tzinfo=UTC),
            60,
            datetime(2026, 7, 4, 18, 0, tzinfo=UTC),
        ),
        (datetime(2026, 7, 4, 18, 1, tzinfo=UTC), 60, datetime(2026, 7, 4, 18, 1, tzinfo=UTC)),
        (datetime(2026, 7, 4, 18, 14, 3, tzinfo=UTC), 900, datetime(2026, 7, 4, 18, 0, tzinfo=UTC)),
        (
            datetime(2026, 7, 4, 18, 0, 7, 500000, tzinfo=UTC),
            1,
            datetime(2026, 7, 4, 18, 0, 7, tzinfo=UTC),
        ),
    ],
)
def test_ticks_are_anchored(now, interval, expected) -> None:
    assert latest_tick(interval, now) == expected
    assert (expected - ANCHOR).total_seconds() % interval == 0


def test_config_from_extra_and_environment() -> None:
    settings = load_settings(
        {"scheduler_retry_base_s": "0.05", "scheduler_heartbeat_s": 0.5}, environ={}
    )
    config = SchedulerConfig.from_settings(
        settings, environ={"DUGOUT_SCHEDULER_RETRY_MAX": "5", "DUGOUT_SCHEDULER_HEARTBEAT_S": "9"}
    )
    assert (config.retry_base_s, config.retry_max, config.heartbeat_s) == (0.05, 5, 0.5)
    assert SchedulerConfig.from_settings(None, environ={}).retry_base_s == 30.0


def test_config_names_the_bad_setting() -> None:
    with pytest.raises(ConfigError, match="DUGOUT_SCHEDULER_RETRY_MAX"):
        SchedulerConfig.from_settings(None, environ={"DUGOUT_SCHEDULER_RETRY_MAX": "many"})
    with pytest.raises(ConfigError, match="lease_ttl_s"):
        SchedulerConfig.from_settings(None, environ={"DUGOUT_SCHEDULER_LEASE_TTL_S": "1"})
