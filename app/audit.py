"""Append-only, MAC-chained audit records: each row's MAC (keyed by a secret that is not in the
database) covers the row and the MAC before it, and every append also writes a signed
checkpoint outside the table, so an edit, a deletion, a truncated tail or a re-hashed chain is
each found and named by `verify_chain`."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.audit_checkpoints import (
    Checkpoint,
    CheckpointFile,
    CheckpointReading,
    log_checkpoint,
    sign_checkpoint,
)
from app.db import utcnow
from app.models import AuditRecord
from app.vocabulary import AuditOutcome

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Settings

log = logging.getLogger("dugout.audit")

GENESIS_HASH = "0" * 64
AUDIT_LOCK = 0x0D06A0D17  # the advisory lock key audit writers share on PostgreSQL
REASON_MAX = 500  # characters: a sentence or two, never a pasted file
CHECKPOINT_FILE = "audit-checkpoints.jsonl"
# The audit outcomes under the names app.accounts uses; the words live in app.vocabulary.
OUTCOME_REQUESTED = AuditOutcome.REQUESTED.value
OUTCOME_SUCCEEDED = AuditOutcome.SUCCEEDED.value
OUTCOME_REFUSED = AuditOutcome.REFUSED.value
OUTCOME_DENIED = AuditOutcome.DENIED.value
OUTCOME_FAILED = AuditOutcome.FAILED.value
OUTCOME_EXPIRED = AuditOutcome.EXPIRED.value
_HASHED_FIELDS = (
    "seq", "at", "actor", "role", "action", "target", "reason", "outcome",
    "source_ip", "user_agent", "correlation_id", "prev_hash",
)  # fmt: skip
# Covered by the MAC only when set, so records written before the field existed keep theirs.
_HASHED_WHEN_SET = ("request_seq",)


class AuditWriteError(RuntimeError):
    """The audit record could not be written; the action it guards must not happen."""


class ReasonError(ValueError):
    """A reason that cannot go into the audit log (missing or too long)."""


def check_reason(reason: str | None) -> str:
    """The reason, stripped; refuses a missing one or one longer than REASON_MAX characters."""
    text_ = (reason or "").strip() if isinstance(reason, str) else ""
    if not text_:
        raise ReasonError("say why: a reason is required.")
    if len(text_) > REASON_MAX:
        raise ReasonError(f"the reason is too long: at most {REASON_MAX} characters.")
    return text_


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
    request_seq: int | None = None  # the request record this is the outcome of


def _canonical(values: dict[str, object]) -> bytes:
    body = {}
    for name in _HASHED_FIELDS:
        value = values.get(name)
        body[name] = (
            value.isoformat(timespec="microseconds") if isinstance(value, datetime) else value
        )
    for name in _HASHED_WHEN_SET:
        if values.get(name) is not None:
            body[name] = values[name]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def compute_row_hash(values: dict[str, object]) -> str:
    """Plain SHA-256 of a record's fields: how records were sealed before MACs (still read)."""
    return hashlib.sha256(_canonical(values)).hexdigest()


def compute_row_mac(key: bytes, values: dict[str, object]) -> str:
    """HMAC-SHA256 of a record's fields (prev_hash included) under the audit key."""
    return hmac.new(key, _canonical(values), hashlib.sha256).hexdigest()


def derive_audit_key(secret_key: str, audit_key: str = "") -> bytes:
    """The audit MAC key: DUGOUT_AUDIT_KEY when set, else derived from the app's secret key."""
    if audit_key:
        return hashlib.sha256(b"dugout-audit-key:" + audit_key.encode()).digest()
    return hmac.new(secret_key.encode(), b"dugout audit chain v1", hashlib.sha256).digest()


@dataclass
class AuditLog:
    """The audit chain of one database, its MAC key and where its checkpoints go."""

    sessions: sessionmaker[Session]
    key: bytes
    checkpoints: CheckpointFile
    observers: list[Callable[[Checkpoint], None]] = field(default_factory=list)

    def append(self, entry: AuditEntry, *, now: datetime | None = None) -> AuditRecord:
        """Append one record and its checkpoint; raise AuditWriteError if either fails."""
        record = self._append_record(entry, now)
        cp = sign_checkpoint(
            self.key, record.seq, record.row_hash, record.at.isoformat(timespec="microseconds")
        )
        try:
            self.checkpoints.append(cp)
        except OSError as exc:
            raise AuditWriteError(f"audit checkpoint could not be written: {exc}") from exc
        log_checkpoint(cp)
        for observe in self.observers:
            observe(cp)
        return record

    def _append_record(self, entry: AuditEntry, now: datetime | None) -> AuditRecord:
        """On PostgreSQL writers take turns on a transaction-scoped advisory lock, so the head
        they read is the head they extend. Elsewhere (SQLite, one writer at a time anyway)
        concurrent writers race on the unique `seq`; the loser re-reads the head and retries
        after a short random pause, so the chain stays linear either way."""
        last_error: Exception | None = None
        for attempt in range(20):
            if attempt:
                time.sleep(random.uniform(0.001, 0.005) * attempt)  # let the winner commit
            try:
                with self.sessions() as session, session.begin():
                    if session.get_bind().dialect.name == "postgresql":
                        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
                    head = session.execute(
                        select(AuditRecord.seq, AuditRecord.row_hash)
                        .order_by(AuditRecord.seq.desc())
                        .limit(1)
                    ).first()
                    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
                    values = _record_values(entry, seq, now or utcnow(), prev_hash)
                    record = AuditRecord(**values, row_hash=compute_row_mac(self.key, values))
                    session.add(record)
                return record
            except IntegrityError as exc:  # another writer took this seq: re-read the head
                last_error = exc
            except Exception as exc:
                raise AuditWriteError(f"audit record could not be written: {exc}") from exc
        raise AuditWriteError(f"audit record could not be written: {last_error}")

    def verify(self, session: Session) -> ChainReport:
        """The chain checked record by record and against the newest genuine checkpoint."""
        return verify_chain(session, self.key, self.checkpoints.read(self.key))


def _record_values(entry: AuditEntry, seq: int, at: datetime, prev_hash: str) -> dict[str, object]:
    return {
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
        "request_seq": entry.request_seq,
    }


def append_audit(log_: AuditLog, entry: AuditEntry, *, now: datetime | None = None) -> AuditRecord:
    """Append one record to `log_` (raises AuditWriteError: then the guarded action must not run)."""
    return log_.append(entry, now=now)


def build_audit_log(
    sessions: sessionmaker[Session],
    *,
    secret_key: str,
    audit_key: str = "",
    checkpoint_path: Path,
    observers: Sequence[Callable[[Checkpoint], None]] = (),
) -> AuditLog:
    """The audit log over `sessions` with its key and checkpoint file."""
    return AuditLog(
        sessions,
        derive_audit_key(secret_key, audit_key),
        CheckpointFile(checkpoint_path),
        list(observers),
    )


def settings_audit_log(
    settings: Settings,
    sessions: sessionmaker[Session],
    observers: Sequence[Callable[[Checkpoint], None]] = (),
) -> AuditLog:
    """The audit log as `settings` configure it: DUGOUT_AUDIT_KEY (else derived from the secret
    key) and DUGOUT_AUDIT_CHECKPOINT_PATH (else a file in DUGOUT_VAR_DIR)."""
    from app.config import ensure_secret_key

    path = settings.audit_checkpoint_path or settings.var_dir / CHECKPOINT_FILE
    return build_audit_log(
        sessions,
        secret_key=ensure_secret_key(settings),
        audit_key=settings.audit_key,
        checkpoint_path=Path(path),
        observers=observers,
    )


def audit_log(app: Flask | None = None) -> AuditLog:
    """The AuditLog that create_app built for `app` (or the current app)."""
    from app.extensions import AUDIT

    return AUDIT.of(app)


# --- verification --------------------------------------------------------------------------------

INTACT = "intact"
REWRITTEN_RECORD = "rewritten record"
DELETED_RECORDS = "deleted records"
REWRITTEN_CHAIN = "rewritten chain"
TRUNCATED_TAIL = "truncated tail"
FORGED_CHECKPOINT = "forged checkpoint"
NO_CHECKPOINT = "no checkpoint"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The verdict: how many records were checked, what kind of damage, and where it starts."""

    ok: bool
    checked: int
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str | None = None
    kind: str = INTACT


def verify_chain(
    session: Session, key: bytes, checkpoints: CheckpointReading | None = None, batch: int = 5000
) -> ChainReport:
    """Walk the chain in order, then compare it with the newest checkpoint; name the first
    problem. Records sealed with plain SHA-256 (before MACs) are accepted only before the first
    MAC-sealed record."""
    checkpoint = checkpoints.newest if checkpoints else None
    prev_hash, expected_seq, checked, last_seq, macs_seen = GENESIS_HASH, 1, 0, 0, False
    while True:
        rows = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.seq > last_seq)
            .order_by(AuditRecord.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            kind, problem, sealed = _check_row(
                row, key, expected_seq, prev_hash, macs_seen, checkpoint
            )
            if kind:
                return ChainReport(False, checked, row.seq, str(row.id), problem, kind)
            macs_seen = macs_seen or sealed
            prev_hash, expected_seq, checked, last_seq = (
                row.row_hash,
                row.seq + 1,
                checked + 1,
                row.seq,
            )
    return _against_checkpoint(checkpoints, checked, last_seq)


def _row_values(row: AuditRecord) -> dict[str, object]:
    return {name: getattr(row, name) for name in (*_HASHED_FIELDS, *_HASHED_WHEN_SET)}


def _check_row(
    row: AuditRecord,
    key: bytes,
    expected_seq: int,
    prev_hash: str,
    macs_seen: bool,
    checkpoint: Checkpoint | None,
) -> tuple[str | None, str | None, bool]:
    """(kind, sentence, MAC-sealed) of what is wrong with `row`; kind None when nothing."""
    if row.seq != expected_seq:
        missing = (
            f"{expected_seq}" if row.seq == expected_seq + 1 else f"{expected_seq}-{row.seq - 1}"
        )
        return (
            DELETED_RECORDS,
            f"sequence gap: expected {expected_seq}, found {row.seq} (records {missing} missing)",
            False,
        )
    if row.prev_hash != prev_hash:
        return REWRITTEN_CHAIN, "prev_hash does not match the previous row's hash", False
    values = _row_values(row)
    sealed = hmac.compare_digest(compute_row_mac(key, values), row.row_hash)
    legacy = not macs_seen and hmac.compare_digest(compute_row_hash(values), row.row_hash)
    if not (sealed or legacy):
        return REWRITTEN_RECORD, "row content does not match its hash (MAC)", False
    if checkpoint is not None and row.seq == checkpoint.seq and row.row_hash != checkpoint.head:
        return (
            REWRITTEN_CHAIN,
            f"record {row.seq} is not the one the checkpoint of {checkpoint.at} signed",
            sealed,
        )
    return None, None, sealed


def _against_checkpoint(
    checkpoints: CheckpointReading | None, checked: int, last_seq: int
) -> ChainReport:
    """The verdict on an intact walk, given what the checkpoints say the chain should hold."""
    if checkpoints is None:
        return ChainReport(True, checked)
    if checkpoints.forged:
        return ChainReport(
            False, checked, None, None,
            f"{checkpoints.forged} checkpoint line(s) are not signed with the audit key",
            FORGED_CHECKPOINT,
        )  # fmt: skip
    newest = checkpoints.newest
    if newest is None:
        if checked == 0:
            return ChainReport(True, 0)
        return ChainReport(
            False, checked, None, None,
            "no checkpoint to compare with (the checkpoint file is missing or empty)",
            NO_CHECKPOINT,
        )  # fmt: skip
    if last_seq < newest.seq:
        missing = newest.seq - last_seq
        what = (
            "every record is missing"
            if last_seq == 0
            else f"the newest {missing} records are missing"
        )
        return ChainReport(
            False, checked, last_seq + 1, None,
            f"{what}: the checkpoint of {newest.at} counts {newest.seq}, the table ends at {last_seq}",
            TRUNCATED_TAIL,
        )  # fmt: skip
    return ChainReport(True, checked)
