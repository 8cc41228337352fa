"""The audit chain: appends link by hash, tampering is found and named, concurrent writers stay linear."""

from __future__ import annotations

import threading

from sqlalchemy import delete, select, update

from app.audit import GENESIS_HASH, AuditEntry, append_audit, verify_chain
from app.models import AuditRecord


def _append(db, n: int, actor: str = "ada") -> None:
    for i in range(n):
        append_audit(
            db.sessionmaker,
            AuditEntry(
                actor=actor,
                action="run_now",
                outcome="ok",
                role="operator",
                target=f"job-{i}",
                reason="test",
            ),
        )


def test_chain_links_rows(db) -> None:
    _append(db, 3)
    with db.session() as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[0].prev_hash == GENESIS_HASH
        assert rows[1].prev_hash == rows[0].row_hash and rows[2].prev_hash == rows[1].row_hash
        assert verify_chain(s).ok


def test_edited_row_is_named(db) -> None:
    _append(db, 4)
    with db.session() as s:
        s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(outcome="denied"))
    with db.session() as s:
        report = verify_chain(s)
    assert not report.ok and report.broken_seq == 3 and report.checked == 2
    assert "does not match its hash" in (report.problem or "")


def test_deleted_row_is_found(db) -> None:
    _append(db, 4)
    with db.session() as s:
        s.execute(delete(AuditRecord).where(AuditRecord.seq == 2))
    with db.session() as s:
        report = verify_chain(s)
    assert not report.ok and report.broken_seq == 3 and "gap" in (report.problem or "")


def test_rehashed_row_breaks_the_next_link(db) -> None:
    from app.audit import _HASHED_FIELDS, compute_row_hash

    _append(db, 3)
    with db.session() as s:  # a forger who recomputes row 2's own hash still breaks row 3
        row = s.scalar(select(AuditRecord).where(AuditRecord.seq == 2))
        row.reason = "forged"
        row.row_hash = compute_row_hash({f: getattr(row, f) for f in _HASHED_FIELDS})
    with db.session() as s:
        report = verify_chain(s)
    assert not report.ok and report.broken_seq == 3 and "prev_hash" in (report.problem or "")


def test_concurrent_writers_keep_one_linear_chain(db) -> None:
    threads = [threading.Thread(target=_append, args=(db, 10, f"w{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session() as s:
        report = verify_chain(s)
    assert report.ok and report.checked == 40
