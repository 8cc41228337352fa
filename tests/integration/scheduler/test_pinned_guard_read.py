"""The dispatch guard's pinned read on PostgreSQL: one statement per tick, the latest commit seen
at once (the kill switch engaged elsewhere blocks the very next tick), and a connection the
server dropped replaced on the next read."""

from __future__ import annotations

from sqlalchemy import event, text

from app.db import utcnow
from scheduler.control import KILL_SWITCH, KillSwitch
from scheduler.pinned import PinnedReader
from scheduler.resilience import BreakerBook


def test_the_guard_reads_one_statement_and_sees_each_commit_at_once(db, sessions) -> None:
    reader = PinnedReader(db.engine)
    book = BreakerBook(sessions, reader=reader)
    seen: list[str] = []
    listen = lambda conn, cursor, statement, *rest: seen.append(statement)  # noqa: E731
    checkout = lambda *args: seen.append("pool checkout (pre-ping, BEGIN ... ROLLBACK)")  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    event.listen(db.engine, "checkout", checkout)
    try:
        assert book.states((KILL_SWITCH, "collection")) == {}
        with sessions.begin() as s:  # another writer engages it (a web worker's command)
            KillSwitch(sessions, utcnow).set(s, True)
        seen.clear()
        assert book.states((KILL_SWITCH, "collection")) == {KILL_SWITCH: "open"}
        assert len(seen) == 1 and "circuit_breakers" in seen[0], seen  # the statement alone
        with sessions.begin() as s:
            KillSwitch(sessions, utcnow).set(s, False)
        assert book.states((KILL_SWITCH, "collection")) == {KILL_SWITCH: "closed"}
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
        event.remove(db.engine, "checkout", checkout)
        reader.close()


def test_a_dropped_pinned_connection_is_replaced_on_the_next_read(db, sessions) -> None:
    reader = PinnedReader(db.engine)
    try:
        first = reader.rows(text("SELECT pg_backend_pid()"))[0][0]
        with db.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            admin.commit()
        again = reader.rows(text("SELECT pg_backend_pid()"))[0][0]
        assert again != first
        with sessions.begin() as s:
            KillSwitch(sessions, utcnow).set(s, True)
        assert BreakerBook(sessions, reader=reader).states((KILL_SWITCH,)) == {KILL_SWITCH: "open"}
        assert db.engine.pool.checkedout() == 1  # the pinned one
    finally:
        reader.close()
    assert db.engine.pool.checkedout() == 0  # closing gave the connection back to the pool
