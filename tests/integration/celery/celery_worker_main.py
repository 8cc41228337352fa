"""`python celery_worker_main.py ARGS...`: the documented Celery worker line with the demo
source's simulated I/O wait installed first (the pool processes fork from here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import slow_demo

slow_demo.install()

from celery.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.argv = ["celery", *sys.argv[1:]]
    sys.exit(main())
