"""A run's log lines kept with the run: every record emitted while a correlation id is set goes
to the `run_logs` table, for the run page. `emit` only queues (a run never waits on it, nor
shares its transaction); one daemon thread writes batches. Bounded three ways: lines per run,
the in-memory queue, and a retention period after which lines are pruned."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import RunLogLine
from app.observability.logging import correlation_id_var, log_context_var

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# records of these loggers are never kept: the database's own chatter, and this module's
IGNORED = ("sqlalchemy", "dugout.run_logs", "alembic")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_TRACKED_RUNS = 10_000  # per-run line counts kept in memory (oldest forgotten first)
MESSAGE_MAX = 2_000


def _now() -> datetime:
    return datetime.now(UTC)


def _value(value: Any) -> Any:
    """A JSON-able copy of an extra's value (anything else as its text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return str(value)


class RunLogHandler(logging.Handler):
    """Queues each record emitted under a correlation id; a thread of its own stores them."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        level: str = "INFO",
        max_lines_per_run: int = 1000,
        retention: timedelta = timedelta(days=14),
        clock: Callable[[], datetime] = _now,
        flush_interval_s: float = 0.5,
        queue_max: int = 20_000,
        prune_every: timedelta = timedelta(hours=1),
        start: bool = True,
    ) -> None:
        super().__init__(level.upper())
        self.sessions, self.max_lines, self.retention = sessions, max_lines_per_run, retention
        self.clock, self.flush_interval_s, self.prune_every = clock, flush_interval_s, prune_every
        self._pending: deque[dict[str, Any]] = deque(maxlen=queue_max)
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._ready = threading.Condition()
        self._write = threading.Lock()
        self._closed = False
        self._last_prune: datetime | None = None
        self.dropped = 0
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._work, name="dugout-run-logs", daemon=True)
            self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record when a correlation id is set; never raises, never blocks on I/O."""
        try:
            cid = correlation_id_var.get()
            if not cid or record.name.startswith(IGNORED):
                return
            context = log_context_var.get() or {}
            run_id = context.get("run_id")
            key = str(run_id or cid)
            with self._ready:
                n = self._counts.pop(key, 0)
                self._counts[key] = n + 1
                if len(self._counts) > _TRACKED_RUNS:
                    self._counts.popitem(last=False)
                if n > self.max_lines:
                    self.dropped += 1
                    return
                row = self._row(record, cid, run_id, context)
                if n == self.max_lines:  # the last line says the rest was dropped
                    row.update(
                        levelno=logging.WARNING,
                        level="WARNING",
                        logger="dugout.run_logs",
                        message=f"{self.max_lines} lines kept; later lines of this run dropped",
                        fields={},
                    )
                if len(self._pending) == self._pending.maxlen:
                    self.dropped += 1
                self._pending.append(row)
                if len(self._pending) >= 500:
                    self._ready.notify_all()
        except Exception:  # a log line must never break the code that emitted it
            self.handleError(record)

    def _row(
        self, record: logging.LogRecord, cid: str, run_id: Any, context: dict[str, Any]
    ) -> dict[str, Any]:
        fields = {k: _value(v) for k, v in context.items() if k not in ("run_id", "pipeline")}
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key[0] != "_":
                fields[key] = _value(value)
        if record.exc_info:
            fields["exc"] = logging.Formatter().formatException(record.exc_info)[-4000:]
        try:
            rid = uuid.UUID(str(run_id)) if run_id else None
        except ValueError:
            rid = None
        return {
            "run_id": rid,
            "correlation_id": cid[:64],
            "at": datetime.fromtimestamp(record.created, UTC),
            "levelno": record.levelno,
            "level": record.levelname[:8],
            "logger": record.name[:64],
            "message": record.getMessage()[:MESSAGE_MAX],
            "fields": fields,
        }

    def flush(self) -> None:
        """Store every queued line now (tests, shutdown and `dugout run` call this)."""
        with self._write:
            with self._ready:
                batch = list(self._pending)
                self._pending.clear()
            if not batch:
                return
            try:
                with self.sessions.begin() as session:
                    session.execute(insert(RunLogLine), batch)
            except Exception:  # the database is away: these lines are lost, runs go on
                self.dropped += len(batch)

    def prune(self, now: datetime | None = None) -> int:
        """Delete lines older than the retention period; how many went."""
        cutoff = (now or self.clock()) - self.retention
        with self.sessions.begin() as session:
            done = session.execute(
                delete(RunLogLine)
                .where(RunLogLine.at < cutoff)
                .execution_options(synchronize_session=False)
            )
        return int(getattr(done, "rowcount", 0) or 0)

    def close(self) -> None:
        """Stop the thread after a last flush."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()
        super().close()

    def _work(self) -> None:
        while True:
            with self._ready:
                if not self._closed:
                    self._ready.wait(self.flush_interval_s)
                closed = self._closed
            self.flush()
            now = self.clock()
            if self._last_prune is None or now - self._last_prune >= self.prune_every:
                self._last_prune = now
                with contextlib.suppress(Exception):  # the database is away: next hour then
                    self.prune(now)
            if closed:
                return


def install_run_logs(sessions: sessionmaker[Session], settings: Any) -> RunLogHandler:
    """Attach this process's run-log handler to the root logger (replacing an earlier one) and
    let records down to its level through, whatever the console's level is."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, RunLogHandler)]:
        root.removeHandler(old)
        old.close()
    handler = RunLogHandler(
        sessions,
        level=settings.run_log_level,
        max_lines_per_run=settings.run_log_max_lines,
        retention=timedelta(days=settings.run_log_retention_days),
    )
    root.addHandler(handler)
    if root.level > handler.level:
        root.setLevel(handler.level)
    return handler


def run_log_lines(
    session: Session,
    run_id: uuid.UUID,
    correlation_id: str | None,
    min_level: str = "DEBUG",
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """A run's lines in the order they were emitted: those tagged with its id, and those of its
    correlation id emitted before the run had one; at `min_level` and above."""
    r = RunLogLine
    levelno = logging.getLevelName(min_level.upper()) if min_level.upper() in LEVELS else 0
    tagged = r.run_id == run_id
    if correlation_id:
        tagged = tagged | ((r.run_id.is_(None)) & (r.correlation_id == correlation_id))
    rows = session.execute(
        select(r.at, r.level, r.logger, r.message, r.fields)
        .where(tagged, r.levelno >= levelno)
        .order_by(r.id)
        .limit(limit)
    ).all()
    return [
        {"at": at, "level": level, "logger": logger, "message": message, "fields": fields or {}}
        for at, level, logger, message, fields in rows
    ]
