"""Simulated source I/O for processes the Celery tests and the bench spawn: the demo market
answers after DUGOUT_TEST_FETCH_DELAY_S seconds, as a remote API would."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from app.pipelines.sources.demo import DemoSource

_original = DemoSource._fetch


def _slow_fetch(self: DemoSource, now: datetime) -> Any:
    time.sleep(float(os.environ.get("DUGOUT_TEST_FETCH_DELAY_S", "0")))  # the network wait
    return _original(self, now)


def install() -> None:
    """Make every DemoSource in this process wait before answering."""
    DemoSource._fetch = _slow_fetch  # type: ignore[method-assign]
