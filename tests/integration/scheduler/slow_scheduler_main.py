"""`python slow_scheduler_main.py`: `dugout scheduler` with the demo source's simulated I/O wait
(DUGOUT_TEST_FETCH_DELAY_S), so a fault test can catch a run in flight."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "celery"))

import slow_demo

slow_demo.install()

from scheduler.cli import cli  # noqa: E402

if __name__ == "__main__":
    cli(["scheduler", *sys.argv[1:]])
