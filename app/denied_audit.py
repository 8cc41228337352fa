"""Denied requests are audited, but a client that hammers the server cannot flood the audit
log: past a number of records per window each further denial from that client is counted, and
the count is written as one record when its next window opens (counted, never dropped)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    written: int = 0
    suppressed: int = 0


class DeniedAuditLimiter:
    """Per client address: up to `per_window` denial records per `window_s` seconds."""

    def __init__(
        self,
        per_window: int = 30,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def admit(self, client: str) -> tuple[bool, int]:
        """(write a record for this denial?, denials counted earlier to record now as one)."""
        now = self.clock()
        with self._lock:
            if len(self._windows) > 10_000:  # forget long-quiet clients, keep memory bounded
                self._windows = {
                    k: w for k, w in self._windows.items() if now - w.started < self.window_s
                }
            window = self._windows.get(client)
            carried = 0
            if window is None or now - window.started >= self.window_s:
                carried = window.suppressed if window else 0
                window = self._windows[client] = _Window(now)
            if window.written < self.per_window:
                window.written += 1
                return True, carried
            window.suppressed += 1
            return False, carried
