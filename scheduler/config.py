"""The scheduler's knobs: defaults, then DUGOUT_SCHEDULER_* variables, then Settings.extra."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from app.config import ConfigError, Settings, load_settings, parse_value

PREFIX = "scheduler_"


def _parse(name: str, raw: Any, default: Any) -> Any:
    """Coerce `raw` to the type of `default` by the settings' one rule set."""
    return parse_value(f"DUGOUT_{PREFIX.upper()}{name.upper()}", raw, default)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """Everything tunable about the scheduler host; tests shrink the times to milliseconds."""

    heartbeat_s: float = 2.0  # leader heartbeat, and how often followers try to lead
    lease_ttl_s: float = 10.0  # a lease not renewed for this long is stale
    idle_session_timeout_s: float = 15.0  # PostgreSQL drops a frozen leader's session
    command_poll_s: float = 1.0  # polling fallback when LISTEN/NOTIFY is silent
    command_ttl_s: float = 600.0  # an audited command nobody applied for this long expires
    misfire_grace_s: int = 30
    default_threads: int = 4
    critical_threads: int = 2
    run_threads: int = 8  # the local executor's pool (critical runs get their own 2)
    retry_max: int = 3  # retries after the first attempt
    retry_base_s: float = 30.0  # 30, 60, 120 s with factor 2
    retry_factor: float = 2.0
    retry_jitter: float = 0.1  # +/- this fraction of each delay
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 300.0
    loop_interval_s: float = 5.0  # APScheduler's loop wakes at least this often
    loop_stale_s: float = 20.0  # a loop silent for this long has stalled
    restart_limit: int = 3  # restarts within the window before falling back
    restart_window_s: float = 600.0
    fallback_probe_s: float = 60.0  # how often fallback mode tries APScheduler again
    queue_poll_s: float = 0.5
    throttle_max_runs: int = 4  # low-priority runs wait when this many runs are in flight
    throttle_cpu_pct: float = 90.0
    throttle_mem_pct: float = 90.0
    throttle_defer_s: float = 15.0
    throttle_max_deferrals: int = 2
    outbox_replay_s: float = 5.0  # how often a host on the local outbox checks the database
    run_heartbeat_s: float = 5.0  # a running run's executor renews its claim this often
    run_lost_after_s: float = 30.0  # a run whose claim is this old is lost, and retried

    @classmethod
    def from_settings(
        cls, settings: Any = None, environ: Mapping[str, str] | None = None
    ) -> SchedulerConfig:
        """Defaults, then DUGOUT_SCHEDULER_<NAME>, then settings.extra["scheduler_<name>"]."""
        env = os.environ if environ is None else environ
        extra: Mapping[str, Any] = getattr(settings, "extra", None) or {}
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            default = getattr(defaults, f.name)
            raw = env.get(f"DUGOUT_{PREFIX.upper()}{f.name.upper()}")
            raw = extra.get(PREFIX + f.name, raw)
            if raw is not None:
                values[f.name] = _parse(f.name, raw, default)
        config = replace(defaults, **values)
        config.validate()
        return config

    def validate(self) -> None:
        """Refuse settings the host cannot work with, naming the setting."""
        if self.heartbeat_s <= 0 or self.lease_ttl_s <= self.heartbeat_s:
            raise ConfigError("scheduler lease_ttl_s must exceed heartbeat_s (both > 0)")
        if self.retry_max < 0 or self.breaker_threshold < 1 or self.restart_limit < 1:
            raise ConfigError(
                "scheduler retry_max >= 0, breaker_threshold >= 1, restart_limit >= 1"
            )
        if not 0 < self.run_heartbeat_s < self.run_lost_after_s:
            raise ConfigError(
                "DUGOUT_SCHEDULER_RUN_LOST_AFTER_S must exceed DUGOUT_SCHEDULER_RUN_HEARTBEAT_S (> 0)"
            )
        if min(self.default_threads, self.critical_threads, self.run_threads) < 1:
            raise ConfigError("scheduler thread counts must be at least 1")


def load_every_setting() -> Settings:
    """The Settings, after reading every family of DUGOUT_* variables once (the app's, the
    scheduler's, Celery's, the strategies', observability's and the database's), so a bad
    value of any of them stops a command with one line naming it (ConfigError), before a
    server forks or a run begins."""
    from app.db import idle_in_transaction_timeout_s
    from app.observability import check_settings
    from app.pipelines.build import strategy_config_from_env
    from scheduler.executors.celery.config import CeleryConfig

    settings = load_settings()
    SchedulerConfig.from_settings(settings)
    CeleryConfig.from_settings(settings)
    strategy_config_from_env()
    check_settings(settings)
    idle_in_transaction_timeout_s()
    return settings
