"""Constants and helpers shared by the Celery tests (a module of its own: `conftest` is a
name every test directory has)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scheduler"))  # pg_scheduler: the shared process helpers

from pg_scheduler import process_env  # noqa: E402

# this suite's own database number; two checkouts testing at once each set their own
REDIS_URL = os.environ.get("DUGOUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
FAST_CELERY = {
    "visibility_timeout_s": 2.0,
    "restore_interval_s": 0.5,
    "run_lock_ttl_s": 2.0,
    "soft_time_limit_s": 25.0,
    "time_limit_s": 30.0,
    "expires_s": 60.0,
    "result_poll_s": 0.2,
    "connect_timeout_s": 0.5,
}


def celery_env(pg_url: str, var_dir: Path, broker: str, **extra: Any) -> dict[str, str]:
    """The environment of a Dugout process using Celery on `broker` with fast test limits."""
    env = process_env(pg_url, var_dir)
    env.update(
        {
            "DUGOUT_EXECUTOR": "celery",
            "DUGOUT_REDIS_URL": broker,
            "DUGOUT_SCHEDULER_ENABLED": "false",
            "DUGOUT_TEST_FETCH_DELAY_S": "0",
            "DUGOUT_SLO_EVALUATE_INTERVAL_S": "0",
        }
    )
    for key, value in {**FAST_CELERY, **extra}.items():
        env[f"DUGOUT_CELERY_{key.upper()}"] = str(value)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env
