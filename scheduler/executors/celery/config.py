"""Celery knobs, queues and the run message format, shared by producer and worker.

The message (task `dugout.run_pipeline`, one per pipeline run, JSON, task id = run id):

    {
      "v": 1,                          # message format version
      "run_id": "9b0c...-uuid",        # the ledger row's id; fixed before publishing
      "pipeline": "collection",        # one of PIPELINE_NAMES
      "trigger": "schedule",           # schedule | manual | retry | dependency | ...
      "scheduled_for": "2025-04-01T17:05:00+00:00" or null,   # the ledger's tick key
      "actor": "scheduler:host:123:ab" or null,
      "params": {},                    # the run's parameters, stored on the run row
      "correlation_id": "c-..." or null,
      "attempt": 1,
      "parent_run_id": null or "uuid",
      "priority": "critical"           # critical -> queue `critical`, else `default`
    }

Trace context travels in the message headers (W3C `traceparent` / `tracestate`), put there by
the producer (`inject_headers`) and picked up by the worker (opentelemetry-instrumentation-celery,
or by hand when that is not installed). The task acknowledges late and is rejected back to the
queue when its worker process dies, so a run is never lost; the run id makes a redelivered task
idempotent (see scheduler/executors/celery/tasks.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from app.config import ConfigError, Settings, parse_value

TASK_NAME = "dugout.run_pipeline"
QUEUES = ("critical", "default")
MESSAGE_VERSION = 1
PREFIX = "celery_"


def queue_for(priority: str) -> str:
    """Collection (priority critical) has its own queue, so a backlog never delays it."""
    return "critical" if priority == "critical" else "default"


@dataclass(frozen=True, slots=True)
class CeleryConfig:
    """Celery knobs: defaults, then DUGOUT_CELERY_<NAME>, then settings.extra["celery_<name>"].

    Keep the visibility timeout above the hard time limit: below it Redis hands a task that is
    still running to a second worker (the run lock makes that one wait, so it costs a retry,
    never a second run). `expires_s` must exceed both, so a task redelivered after a worker
    died is not thrown away as expired.
    """

    soft_time_limit_s: float = 300.0  # SoftTimeLimitExceeded inside the stage: the run fails
    time_limit_s: float = 360.0  # the worker process is killed; the caller records the failure
    visibility_timeout_s: float = 900.0  # a task whose worker vanished is redelivered after this
    restore_interval_s: float = 10.0  # how often workers look for such tasks
    expires_s: float = 3600.0  # a task still queued after this is dropped (and reported failed)
    result_expires_s: float = 86400.0
    run_lock_ttl_s: float = 30.0  # a running task renews its run lock; a dead one's lapses
    connect_timeout_s: float = 2.0  # Redis connect timeout: a dead broker fails dispatch fast
    publish_retries: int = 2
    result_poll_s: float = 0.5  # fallback poll of results (pub/sub wakes the caller first)
    metrics_port: int = 9540  # the worker's /metrics (0: none)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, environ: Mapping[str, str] | None = None
    ) -> CeleryConfig:
        """Defaults, then DUGOUT_CELERY_<NAME>, then settings.extra["celery_<name>"]."""
        env = os.environ if environ is None else environ
        extra: Mapping[str, Any] = getattr(settings, "extra", None) or {}
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            raw = extra.get(PREFIX + f.name, env.get(f"DUGOUT_CELERY_{f.name.upper()}"))
            if raw is None:
                continue
            default = getattr(defaults, f.name)
            values[f.name] = parse_value(f"DUGOUT_CELERY_{f.name.upper()}", raw, default)
        config = replace(defaults, **values)
        config.validate()
        return config

    def validate(self) -> None:
        """Refuse limits that would drop a redelivered task or kill a run before it can fail."""
        if not 0 < self.soft_time_limit_s <= self.time_limit_s:
            raise ConfigError("DUGOUT_CELERY_SOFT_TIME_LIMIT_S must be > 0 and <= TIME_LIMIT_S")
        if self.expires_s <= self.visibility_timeout_s + self.time_limit_s:
            raise ConfigError(
                "DUGOUT_CELERY_EXPIRES_S must exceed VISIBILITY_TIMEOUT_S + TIME_LIMIT_S"
            )

    @property
    def wait_s(self) -> float:
        """How long a caller waits for a result before it can be sure none will come."""
        return self.expires_s + self.time_limit_s + 5.0
