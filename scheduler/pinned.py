"""A connection kept for one hot read: the dispatch guard's, which every tick pays before its run.

A pooled session costs four round trips for one read (the pool's pre-ping, BEGIN, the query,
ROLLBACK); on a busy 2-core machine each is milliseconds of waiting for the database's and our
own turn on a core. A pinned autocommit connection costs the query alone. Every read still
sees the latest commit (autocommit: each statement its own snapshot), so the kill switch
engaged a moment ago blocks the very next tick as before.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Executable
from sqlalchemy.exc import DBAPIError


class PinnedReader:
    """Reads through one autocommit connection of `engine`, opened on first use. Reads are
    serialised (a lock: they take a millisecond); a read on a connection the database dropped
    is retried once on a fresh one, and any other failure raises as a pooled read would."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def rows(self, statement: Executable, params: Mapping[str, Any] | None = None) -> list[Any]:
        """All rows of `statement`."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return list(conn.execute(statement, dict(params or {})).all())
                except DBAPIError as exc:
                    self._drop()
                    if attempt == 2 or not exc.connection_invalidated:
                        raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Give the connection back (a leader stepping down, the host stopping)."""
        with self._lock:
            self._drop()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already dead: nothing to give back
                conn.close()
