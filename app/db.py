"""Engine, sessions and column types shared by every table; works on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, DateTime, Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.config import env_value
from app.extensions import DB

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Settings


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite has no time zones, so naive values read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # On SQLite the value is text: one step each way gives the same text and the same datetime
    # as this type's conversion followed by SQLite DATETIME's own (its format, its parse), at a
    # third of the cost; a replay binds a few hundred thousand of them.
    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not UTC:
                if value.tzinfo is None:
                    raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]  # less its "+00:00"

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        general = super().result_processor(dialect, coltype)
        parse = datetime.fromisoformat

        def process(value: Any) -> datetime | None:
            if value.__class__ is str:
                try:
                    found = parse(value)
                except ValueError:  # not ISO text: SQLite DATETIME's own parse says what
                    pass
                else:
                    return (
                        found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)
                    )
            return general(value) if general is not None else value

        return process


class Base(DeclarativeBase):
    """Declarative base for every Dugout table."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def session_tag(hostname: str | None = None, pid: int | None = None) -> str:
    """The application_name of this process's PostgreSQL sessions ("dugout host:pid"), so a
    new scheduler leader can find and end the sessions of the process it replaced."""
    host = (hostname or socket.gethostname())[:40]
    return f"dugout {host}:{pid if pid is not None else os.getpid()}"


def _tag_session(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
    params.setdefault("application_name", session_tag())  # at connect: the pid after a fork


def _rearm_idle_timeout(
    _conn: Any, cursor: Any, _sql: Any, _params: Any, _ctx: Any, executemany: bool
) -> None:
    """psycopg ends a pipelined executemany with a Flush after its Sync, and PostgreSQL 15
    disarms idle_in_transaction_session_timeout on that message without arming it again: a
    process frozen right after a batch insert would hold its locks for ever. One more round
    trip arms the timeout again."""
    if executemany and cursor.connection.info.transaction_status == TransactionStatus.INTRANS:
        cursor.connection.execute("SELECT 1")


def idle_in_transaction_timeout_s() -> float:
    """DUGOUT_DB_IDLE_IN_TRANSACTION_TIMEOUT_S (0: leave PostgreSQL's own setting)."""
    return float(env_value("db_idle_in_transaction_timeout_s", 60.0))


def build_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas and pool settings each backend needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    # A frozen or wedged process must not hold row locks for ever: the server ends a session
    # left idle inside a transaction (a paused former leader mid-run, say) after this long.
    idle_s = idle_in_transaction_timeout_s()
    if idle_s > 0:
        options = f"-c idle_in_transaction_session_timeout={int(idle_s * 1000)}"
        kwargs.setdefault("connect_args", {}).setdefault("options", options)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "do_connect", _tag_session)
    event.listen(engine, "after_cursor_execute", _rearm_idle_timeout)
    return engine


class Database:
    """The database extension: one engine and session factory per app."""

    def __init__(self, url: str | None = None) -> None:
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None
        if url:
            self.configure(url)

    def configure(self, url: str) -> None:
        """Build the engine and session factory for `url`."""
        self.engine = build_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def init_app(self, app: Flask, settings: Settings) -> None:
        """Bind to `app`: configure from settings and register under app.extensions."""
        self.configure(settings.resolved_database_url)
        DB.put(app, self)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        assert self.sessionmaker is not None, "Database not configured"
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        if self.engine is not None:
            self.engine.dispose()


def get_db(app: Flask | None = None) -> Database:
    """The Database bound to `app` (or the current app)."""
    return DB.of(app)


def flushed_connection(session: Session) -> Connection:
    """The session's connection, with what the session changed flushed first (as an ORM
    execute's autoflush would): for Core statements that load no entity, which the ORM's own
    execute path only slows down."""
    session.flush()
    return session.connection()


class PreparedStatement:
    """A Core statement compiled once per dialect and sent as its SQL text with the values
    already converted, for the few statements every run executes several times: SQLAlchemy's
    own path (cache key, compiled cache lookup, parameter processing) cost more than
    SQLite's execution of them. Cursor events (database spans) and error translation still
    apply; `before_execute` listeners do not (the rollup invalidation's INSERT hook among
    them), so a caller that inserts into a watched table forgets the slices itself."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plans: weakref.WeakKeyDictionary[Any, _Plan] = weakref.WeakKeyDictionary()

    def _plan(self, dialect: Any) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        # the values the statement binds itself (a literal in its WHERE, a NULL it sets); a
        # bind with no value of its own must be given (a missing one fails, never NULL)
        fixed = {
            name: bind.effective_value
            for bind, name in compiled.bind_names.items()
            if not bind.required
        }
        processors = list(compiled._bind_processors.items())  # the types' bind conversions
        names = list(compiled.positiontup or ()) if compiled.positional else None
        plan = _Plan(str(compiled), fixed, processors, names)
        self._plans[dialect] = plan
        return plan

    def execute(self, conn: Any, params: dict[str, Any]) -> Any:
        """Execute on `conn` (a Connection) with `params` named as the statement's binds."""
        plan = self._plans.get(conn.dialect) or self._plan(conn.dialect)
        values = plan.fixed | params
        for name, process in plan.processors:
            values[name] = process(values[name])
        if plan.names is not None:
            return conn.exec_driver_sql(plan.sql, tuple(values[n] for n in plan.names))
        return conn.exec_driver_sql(plan.sql, values)


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    fixed: dict[str, Any]
    processors: list[tuple[str, Any]]
    names: list[str] | None
