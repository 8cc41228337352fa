"""Append-only, hash-chained audit records: each row carries the SHA-256 of the row before it."""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import AuditRecord
from app.vocabulary import AuditOutcome

GENESIS_HASH = "0" * 64
REASON_MAX = 500  # characters: a sentence or two, never a pasted file
# The audit outcomes under the names app.accounts uses; the words live in app.vocabulary.
OUTCOME_REQUESTED = AuditOutcome.REQUESTED.value
OUTCOME_SUCCEEDED = AuditOutcome.SUCCEEDED.value
OUTCOME_REFUSED = AuditOutcome.REFUSED.value
OUTCOME_DENIED = AuditOutcome.DENIED.value
AUDIT_LOCK = 0x0D06A0D17  # the advisory lock key audit writers share on PostgreSQL
_HASHED_FIELDS = (
    "seq", "at", "actor", "role", "action", "target", "reason", "outcome",
    "source_ip", "user_agent", "correlation_id", "prev_hash",
)  # fmt: skip


class AuditWriteError(RuntimeError):
    """The audit record could not be written; the action it guards must not happen."""


class ReasonError(ValueError):
    """A reason that cannot go into the audit log (missing or too long)."""


def check_reason(reason: str | None) -> str:
    """The reason, stripped; refuses a missing one or one longer than REASON_MAX characters."""
    text = (reason or "").strip()
    if not text:
        raise ReasonError("say why: a reason is required.")
    if len(text) > REASON_MAX:
        raise ReasonError(f"the reason is too long: at most {REASON_MAX} characters.")
    return text


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, by whom, from where: the caller-supplied part of an audit record."""

    actor: str
    action: str
    outcome: str
    role: str | None = None
    target: str | None = None
    reason: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None


def compute_row_hash(values: dict[str, object]) -> str:
    """SHA-256 over the canonical JSON of a record's hashed fields (prev_hash included)."""
    body = {}
    for name in _HASHED_FIELDS:
        value = values.get(name)
        body[name] = (
            value.isoformat(timespec="microseconds") if isinstance(value, datetime) else value
        )
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(data.encode()).hexdigest()


def append_audit(
    sessions: sessionmaker[Session], entry: AuditEntry, *, now: datetime | None = None
) -> AuditRecord:
    """Append one record in its own transaction; raise AuditWriteError if it cannot be written.

    On PostgreSQL writers take turns on a transaction-scoped advisory lock, so the head they
    read is the head they extend. Elsewhere (SQLite, one writer at a time anyway) concurrent
    writers race on the unique `seq`; the loser re-reads the head and retries after a short
    random pause, so the chain stays linear either way.
    """
    last_error: Exception | None = None
    for attempt in range(20):
        if attempt:
            time.sleep(random.uniform(0.001, 0.005) * attempt)  # let the winner commit
        try:
            with sessions() as session, session.begin():
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
                head = session.execute(
                    select(AuditRecord.seq, AuditRecord.row_hash)
                    .order_by(AuditRecord.seq.desc())
                    .limit(1)
                ).first()
                seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
                at = now or utcnow()
                values: dict[str, object] = {
                    "seq": seq,
                    "at": at,
                    "actor": entry.actor[:64],
                    "role": entry.role,
                    "action": entry.action[:64],
                    "target": entry.target[:255] if entry.target else entry.target,
                    "reason": entry.reason[: REASON_MAX * 4] if entry.reason else entry.reason,
                    "outcome": entry.outcome[:32],
                    "source_ip": entry.source_ip,
                    "user_agent": entry.user_agent[:255] if entry.user_agent else None,
                    "correlation_id": entry.correlation_id,
                    "prev_hash": prev_hash,
                }
                record = AuditRecord(**values, row_hash=compute_row_hash(values))
                session.add(record)
            return record
        except IntegrityError as exc:  # another writer took this seq: re-read the head
            last_error = exc
        except Exception as exc:
            raise AuditWriteError(f"audit record could not be written: {exc}") from exc
    raise AuditWriteError(f"audit record could not be written: {last_error}")


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The verdict on the chain: how many rows were checked and the first broken one."""

    ok: bool
    checked: int
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str | None = None


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain in order and name the first row whose hash or link does not match."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    last_seq = 0
    while True:
        rows = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.seq > last_seq)
            .order_by(AuditRecord.seq)
            .limit(batch)
        ).all()
        if not rows:
            return ChainReport(ok=True, checked=checked)
        for row in rows:
            problem = None
            if row.seq != expected_seq:
                problem = f"sequence gap: expected {expected_seq}, found {row.seq}"
            elif row.prev_hash != prev_hash:
                problem = "prev_hash does not match the previous row's hash"
            else:
                values = {name: getattr(row, name) for name in _HASHED_FIELDS}
                if compute_row_hash(values) != row.row_hash:
                    problem = "row content does not match its hash"
            if problem:
                return ChainReport(False, checked, row.seq, str(row.id), problem)
            prev_hash, expected_seq, checked = row.row_hash, row.seq + 1, checked + 1
            last_seq = row.seq
