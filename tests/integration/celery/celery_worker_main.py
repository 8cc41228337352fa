"""`python celery_worker_main.py ARGS...`: the documented Celery worker line with the demo
source's simulated I/O wait installed first (the pool processes fork from here).

DUGOUT_TEST_HOLD_BEFORE_OPEN=DIR: the first task a pool process takes writes DIR/held-<pid>
and then hangs before it opens the run's row, so a test can kill the worker right there.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import slow_demo

slow_demo.install()


def _hold_before_open(directory: str) -> None:
    from scheduler.executors.celery import tasks

    original = tasks._run

    def held(*args: Any) -> Any:
        (Path(directory) / f"held-{os.getpid()}").write_text(str(args[1].run_id))
        time.sleep(3600)  # killed here by the test
        return original(*args)

    tasks._run = held


if os.environ.get("DUGOUT_TEST_HOLD_BEFORE_OPEN"):
    _hold_before_open(os.environ["DUGOUT_TEST_HOLD_BEFORE_OPEN"])

from celery.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.argv = ["celery", *sys.argv[1:]]
    sys.exit(main())
