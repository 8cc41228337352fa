"""The outcome half of every audited scheduler command: once the leader has applied it, failed
it, or it expired with nobody to apply it, an outcome record joins the audit chain, linked to
the command's request record (`request_seq`).

A request is audited first by whoever asks (app, API, CLI); the leader writes the outcome. An
outcome that cannot be written (the audit log is down) is kept and tried again on the next
round, so a command applied during an audit outage still gets its record once the log is back
(unless the leader that applied it stops first: then the request stands alone in the chain and
the command row keeps its status and result).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.audit import (
    OUTCOME_EXPIRED,
    OUTCOME_FAILED,
    OUTCOME_SUCCEEDED,
    AuditEntry,
    AuditLog,
    append_audit,
)
from app.db import utcnow
from app.models import AuditRecord, SchedulerCommand

log = logging.getLogger("dugout.scheduler.outcomes")
# A command's status on its row, and the audit outcome it becomes.
AUDIT_OUTCOMES = {
    "applied": OUTCOME_SUCCEEDED,
    "failed": OUTCOME_FAILED,
    "expired": OUTCOME_EXPIRED,
}
# Commands that never expire: the kill switch took effect when it was written (the leader only
# pauses or resumes the jobs to match, which every new leader does anyway).
NEVER_EXPIRE = frozenset({"kill_switch"})


def expires(row: SchedulerCommand, now: datetime, ttl_s: float) -> bool:
    """True when `row` is an audited request nobody applied within `ttl_s` seconds."""
    return (
        row.audit_seq is not None
        and row.command not in NEVER_EXPIRE
        and row.created_at < now - timedelta(seconds=ttl_s)
    )


def expiry_result(row: SchedulerCommand, now: datetime, ttl_s: float) -> str:
    """The sentence an expired command carries."""
    waited = int((now - row.created_at).total_seconds())
    return (
        f"expired unapplied: no scheduler leader applied it within {ttl_s:.0f} s "
        f"(it waited {waited} s); ask again if it is still needed"
    )


class CommandOutcomes:
    """Writes the outcome record of each audited command, and expires stale ones."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        audit: AuditLog,
        *,
        ttl_s: float,
        applied_by: str = "scheduler",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.ttl_s = ttl_s
        self.applied_by = applied_by
        self.clock = clock
        self._unrecorded: list[uuid.UUID] = []  # outcomes the audit log refused: try again

    def record(self, command_id: uuid.UUID) -> int | None:
        """Append the outcome record of a finished command (once); its seq, or None when the
        command has no request record or the audit log refused (kept to try again)."""
        try:
            seq = self._append(command_id)
        except Exception as exc:  # AuditWriteError, or the database itself failing
            log.error(
                "command outcome could not be audited; will try again",
                extra={"command_id": str(command_id), "error": str(exc)},
            )
            if command_id not in self._unrecorded:
                self._unrecorded.append(command_id)
            return None
        if command_id in self._unrecorded:
            self._unrecorded.remove(command_id)
        return seq

    def retry(self) -> int:
        """Try again the outcomes the audit log refused before; returns how many went in."""
        done = 0
        for command_id in list(self._unrecorded):
            if self.record(command_id) is not None:
                done += 1
            else:
                break  # the log is still down: wait for the next round
        return done

    def expire_stale(self) -> int:
        """Expire audited commands nobody applied in time (any process may: the change is
        conditional on the row still pending, so the leader and a follower never both act)."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.ttl_s)
        with self.sessions() as session:
            stale = session.scalars(
                select(SchedulerCommand)
                .where(
                    SchedulerCommand.status == "pending",
                    SchedulerCommand.created_at < cutoff,
                    SchedulerCommand.audit_seq.is_not(None),
                    SchedulerCommand.command.not_in(NEVER_EXPIRE),
                )
                .order_by(SchedulerCommand.created_at)
                .limit(50)
            ).all()
        expired = 0
        for row in stale:
            with self.sessions.begin() as session:
                changed = session.execute(
                    update(SchedulerCommand)
                    .where(SchedulerCommand.id == row.id, SchedulerCommand.status == "pending")
                    .values(
                        status="expired", result=expiry_result(row, now, self.ttl_s), applied_at=now
                    )
                )
            if getattr(changed, "rowcount", 0) == 1:
                expired += 1
                self.record(row.id)
        return expired

    def _append(self, command_id: uuid.UUID) -> int | None:
        with self.sessions() as session:
            row = session.get(SchedulerCommand, command_id)
            if row is None or row.audit_seq is None or row.outcome_seq is not None:
                return None
            outcome = AUDIT_OUTCOMES.get(row.status)
            if outcome is None:  # not finished yet
                return None
            request = session.scalar(select(AuditRecord).where(AuditRecord.seq == row.audit_seq))
            entry = AuditEntry(
                actor=row.requested_by,
                role=request.role if request is not None else None,
                action=request.action if request is not None else row.command,
                target=request.target if request is not None else row.target,
                outcome=outcome,
                reason=self._sentence(row),
                source_ip=request.source_ip if request is not None else None,
                correlation_id=request.correlation_id if request is not None else None,
                request_seq=row.audit_seq,
            )
        record = append_audit(self.audit, entry, now=self.clock())
        with self.sessions.begin() as session:
            session.execute(
                update(SchedulerCommand)
                .where(SchedulerCommand.id == command_id)
                .values(outcome_seq=record.seq)
            )
        return record.seq

    def _sentence(self, row: SchedulerCommand) -> str:
        result = row.result or "no detail"
        if row.status == "expired":
            return result
        verb = "applied" if row.status == "applied" else "failed"
        return f"{verb} by {self.applied_by}: {result}"
