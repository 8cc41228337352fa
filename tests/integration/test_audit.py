"""The audit chain: MAC-linked records, signed checkpoints outside the table, and a tamper suite
(edit, delete middle, delete tail, delete all, rewrite and re-hash) that `verify` names."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.audit import (
    _HASHED_FIELDS,
    DELETED_RECORDS,
    GENESIS_HASH,
    REWRITTEN_CHAIN,
    REWRITTEN_RECORD,
    TRUNCATED_TAIL,
    AuditEntry,
    append_audit,
    audit_log,
    compute_row_hash,
)
from app.models import AuditRecord


def _append(app, n: int, actor: str = "ada") -> None:
    for i in range(n):
        append_audit(
            audit_log(app),
            AuditEntry(
                actor=actor,
                action="run_now",
                outcome="ok",
                role="operator",
                target=f"job-{i}",
                reason="test",
            ),
        )


@contextmanager
def _tamper(db) -> Iterator[Session]:
    """A session of someone who edits the table behind the app's back (on PostgreSQL a
    superuser who sets the append-only trigger aside)."""
    with db.session() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SET LOCAL session_replication_role = replica"))
        yield s


def _verify(app, db):
    with db.session() as s:
        return audit_log(app).verify(s)


def test_chain_links_rows_and_checkpoints_each_append(app, db) -> None:
    _append(app, 3)
    with db.session() as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[0].prev_hash == GENESIS_HASH
        assert rows[1].prev_hash == rows[0].row_hash and rows[2].prev_hash == rows[1].row_hash
        head = rows[2].row_hash
    reading = audit_log(app).checkpoints.read(audit_log(app).key)
    assert reading.newest is not None and (reading.newest.seq, reading.newest.head) == (3, head)
    assert _verify(app, db).ok


def test_edited_row_is_named(app, db) -> None:
    _append(app, 4)
    with _tamper(db) as s:
        s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(outcome="denied"))
    report = _verify(app, db)
    assert not report.ok and report.broken_seq == 3 and report.checked == 2
    assert report.kind == REWRITTEN_RECORD and "does not match its hash" in (report.problem or "")


def test_deleted_row_is_found(app, db) -> None:
    _append(app, 4)
    with _tamper(db) as s:
        s.execute(delete(AuditRecord).where(AuditRecord.seq == 2))
    report = _verify(app, db)
    assert not report.ok and report.broken_seq == 3 and "gap" in (report.problem or "")
    assert report.kind == DELETED_RECORDS


@pytest.mark.parametrize("newest", [1, 20])
def test_deleted_tail_is_found(app, db, newest) -> None:
    """Before the checkpoints, deleting the newest record(s) left a chain that verified."""
    _append(app, 25)
    with _tamper(db) as s:
        s.execute(delete(AuditRecord).where(AuditRecord.seq > 25 - newest))
    report = _verify(app, db)
    assert not report.ok and report.kind == TRUNCATED_TAIL
    assert f"the newest {newest} records are missing" in (report.problem or "")


def test_deleting_every_record_is_found(app, db) -> None:
    """Before the checkpoints this said "intact: 0 records"."""
    _append(app, 5)
    with _tamper(db) as s:
        s.execute(delete(AuditRecord))
    report = _verify(app, db)
    assert not report.ok and report.kind == TRUNCATED_TAIL and report.checked == 0
    assert "every record is missing" in (report.problem or "")


def test_rewritten_and_rehashed_chain_is_found(app, db) -> None:
    """Before the MAC, a forger who rewrote a record and recomputed every later hash passed."""
    _append(app, 5)
    with _tamper(db) as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        prev = rows[1].row_hash
        for row in rows[2:]:  # rewrite record 3, then re-hash it and every later record
            if row.seq == 3:
                row.reason = "forged"
            row.prev_hash = prev
            row.row_hash = compute_row_hash({f: getattr(row, f) for f in _HASHED_FIELDS})
            prev = row.row_hash
    report = _verify(app, db)
    assert not report.ok and report.broken_seq == 3 and report.kind == REWRITTEN_RECORD


def test_a_forged_checkpoint_line_is_found(app, db) -> None:
    _append(app, 2)
    path = audit_log(app).checkpoints.path
    with path.open("a") as fh:
        fh.write('{"seq":1,"head":"00","at":"x","mac":"00"}\n')
    report = _verify(app, db)
    assert not report.ok and report.kind == "forged checkpoint"


def test_checkpoint_file_is_private(app) -> None:
    _append(app, 1)
    mode = stat.S_IMODE(os.stat(audit_log(app).checkpoints.path).st_mode)
    assert mode == 0o600


def test_the_checkpoint_gauge_follows_the_chain(app) -> None:
    _append(app, 3)
    registry = app.extensions["dugout.metrics"].registry
    assert registry.get_sample_value("dugout_audit_checkpoint_records") == 3
    assert REWRITTEN_CHAIN  # named kinds are exported for the CLI and the page


def test_concurrent_writers_keep_one_linear_chain(app, db) -> None:
    threads = [threading.Thread(target=_append, args=(app, 10, f"w{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = _verify(app, db)
    assert report.ok and report.checked == 40


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET outcome = 'ok'",
        "DELETE FROM audit_records",
        "TRUNCATE audit_records",
    ],
)
def test_postgres_refuses_to_change_audit_records(app, db, statement) -> None:
    _append(app, 2)
    with pytest.raises(DBAPIError, match="append-only"), db.session() as s:
        s.execute(text(statement))
    assert _verify(app, db).ok and _verify(app, db).checked == 2
