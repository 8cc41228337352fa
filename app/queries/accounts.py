"""Accounts and the audit log, as the admin pages list them (no secrets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, User


@dataclass(frozen=True, slots=True)
class Account:
    """One account without its secrets."""

    username: str
    role: str
    active: bool
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One audit record as the log lists it."""

    seq: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target: str | None
    outcome: str
    reason: str | None
    source_ip: str | None


def list_users(session: Session) -> list[Account]:
    """Every account by name."""
    return [
        Account(u.username, u.role, u.is_active, u.last_login_at)
        for u in session.scalars(select(User).order_by(User.username))
    ]


def recent_audit(session: Session, limit: int = 50) -> list[AuditLine]:
    """The newest audit records, newest first."""
    a = AuditRecord
    rows = session.execute(
        select(a.seq, a.at, a.actor, a.role, a.action, a.target, a.outcome, a.reason, a.source_ip)
        .order_by(a.seq.desc())
        .limit(limit)
    )
    return [AuditLine(*r) for r in rows]
