"""`python serve_main.py ARGS...`: `dugout serve` with the demo source's simulated I/O wait
installed first (gunicorn's workers fork from this process)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import slow_demo

slow_demo.install()

from app.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])
