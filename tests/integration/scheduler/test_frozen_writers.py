"""A writer that froze inside a transaction must not stall the leader that replaced it, on the
real PostgreSQL: the server's idle timeout still ends it after a batch insert, a new leader
ends the replaced holder's open transactions, and declaring a run lost does not wait for the
key-share locks its frozen writer's data rows hold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from pg_scheduler import wait_for
from sqlalchemy import text

from app.db import build_engine, session_tag, utcnow
from app.models import PipelineRun
from app.pipelines.ledger import Interruption, RunOpening, interrupt_runs, open_run
from scheduler.leader import PostgresLeaderLock, psycopg_dsn

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 7, 4, 18, tzinfo=UTC)


def _backend_alive(dsn: str, pid: int) -> bool:
    with psycopg.connect(dsn, autocommit=True) as admin:
        return (
            admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            is not None
        )


def test_a_session_left_idle_after_a_batch_insert_is_still_ended_by_the_server(
    pg_url, monkeypatch
) -> None:
    """psycopg's pipelined executemany ends with a Flush that disarms PostgreSQL's idle timer;
    the engine arms it again, so a process frozen right after a batch cannot hold its locks."""
    monkeypatch.setenv("DUGOUT_DB_IDLE_IN_TRANSACTION_TIMEOUT_S", "1")
    engine = build_engine(pg_url)
    conn = engine.connect()
    try:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.execute(text("CREATE TEMP TABLE batch (x int)"))
        conn.execute(text("INSERT INTO batch VALUES (:x)"), [{"x": i} for i in range(50)])
        # the process now does nothing, as a frozen one would: the server must end the session
        wait_for(lambda: not _backend_alive(psycopg_dsn(pg_url), pid), 60, step_s=0.2)
    finally:
        conn.invalidate()
        engine.dispose()


def test_a_new_leader_ends_the_open_transactions_of_the_holder_it_replaced(
    pg_url, sessions
) -> None:
    dsn = psycopg_dsn(pg_url)
    frozen_pid = 4_000_000 + uuid.uuid4().int % 1000  # no real process has it
    old = PostgresLeaderLock(
        dsn, f"frozen-host:{frozen_pid}:abc123", lease_ttl_s=2.0, idle_session_timeout_s=60.0
    )
    assert old.try_acquire()
    # the replaced process's own session, inside a transaction that holds a lock
    writer = psycopg.connect(dsn, application_name=session_tag("frozen-host", frozen_pid))
    writer.execute("SELECT holder FROM scheduler_lease FOR KEY SHARE")
    writer_pid = writer.info.backend_pid
    bystander = psycopg.connect(dsn, application_name=session_tag("other-host", frozen_pid))
    bystander.execute("SELECT 1")  # another process's open transaction is left alone
    old._conn.close()  # its leader session dies without letting go: the holder stays named
    new = PostgresLeaderLock(dsn, "new-host:1:def456", lease_ttl_s=2.0, idle_session_timeout_s=60.0)
    try:
        assert new.try_acquire()  # the lease row the frozen writer locked is free again
        assert new.previous_holder == old.identity and new.ended_sessions == 1
        wait_for(lambda: not _backend_alive(dsn, writer_pid), 30)
        assert _backend_alive(dsn, bystander.info.backend_pid)
        assert new.end_previous_sessions() == 0  # nothing left to end
    finally:
        new.release()
        writer.close()
        bystander.close()


def test_declaring_a_run_lost_does_not_wait_for_its_frozen_writers_data_rows(
    pg_url, sessions
) -> None:
    """A frozen writer's open transaction inserted a row pointing at its run (a key-share lock on
    the run row); the leader still ends the run at once, within its lock wait."""
    handle = open_run(
        sessions,
        RunOpening(pipeline="collection", trigger="schedule", scheduled_for=NOW),
        utcnow(),
        first_stage="collect",
        clock=utcnow,
    )
    handle.close()
    writer = psycopg.connect(psycopg_dsn(pg_url))
    writer.execute(
        "INSERT INTO quarantined_rows (id, source, field, reason, payload, run_id, created_at) "
        "VALUES (%s, 'demo', 'key', 'frozen', '{}', %s, now())",
        (uuid.uuid4(), handle.run_id),
    )
    try:
        lost = interrupt_runs(
            sessions,
            Interruption("RunLost", "test"),
            utcnow(),
            ids=[handle.run_id],
            lock_timeout_s=5.0,
        )
        assert lost == [handle.run_id]
        with sessions() as s:
            assert s.get(PipelineRun, handle.run_id).status == "interrupted"
    finally:
        writer.rollback()
        writer.close()
