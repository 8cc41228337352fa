"""Constants and helpers shared by the Celery tests (a module of its own: `conftest` is a
name every test directory has)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scheduler"))  # pg_scheduler: the shared process helpers

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
