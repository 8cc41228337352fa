"""Accounts and the audit log, as the admin pages list them (no secrets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, User
from app.queries.paging import order_terms


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
    request_seq: int | None = None  # the request this record is the outcome of
    outcomes: tuple[tuple[int, str], ...] = ()  # (seq, outcome) of this request's outcomes


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit records to list: by actor (part of the name), action, outcome and time."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0
    order: tuple[tuple[str, bool], ...] = ()  # (key of AUDIT_SORTS, descending); newest first


# What the audit grid may sort by: its column keys -> columns (nothing else reaches SQL).
AUDIT_SORTS: dict[str, Any] = {
    "seq": AuditRecord.seq,
    "at": AuditRecord.at,
    "actor": AuditRecord.actor,
    "role": AuditRecord.role,
    "action": AuditRecord.action,
    "target": AuditRecord.target,
    "outcome": AuditRecord.outcome,
    "source_ip": AuditRecord.source_ip,
}


def list_users(session: Session) -> list[Account]:
    """Every account by name."""
    return [
        Account(u.username, u.role, u.is_active, u.last_login_at)
        for u in session.scalars(select(User).order_by(User.username))
    ]


def recent_audit(session: Session, limit: int = 50) -> list[AuditLine]:
    """The newest audit records, newest first."""
    return audit_lines(session, AuditFilter(limit=limit))


def audit_lines(session: Session, query: AuditFilter) -> list[AuditLine]:
    """Audit records matching `query`, newest first, each request with its outcomes' seqs."""
    a = AuditRecord
    stmt = select(
        a.seq, a.at, a.actor, a.role, a.action, a.target, a.outcome, a.reason, a.source_ip,
        a.request_seq,
    )  # fmt: skip
    if query.actor:
        stmt = stmt.where(a.actor.icontains(query.actor, autoescape=True))
    if query.action:
        stmt = stmt.where(a.action == query.action)
    if query.outcome:
        stmt = stmt.where(a.outcome == query.outcome)
    if query.since is not None:
        stmt = stmt.where(a.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(a.at < query.until)
    order = (*order_terms(query.order, AUDIT_SORTS), a.seq.desc())
    rows = session.execute(stmt.order_by(*order).offset(query.offset).limit(query.limit)).all()
    seqs = [r.seq for r in rows]
    outcomes: dict[int, list[tuple[int, str]]] = {}
    if seqs:
        for seq, outcome, request in session.execute(
            select(a.seq, a.outcome, a.request_seq).where(a.request_seq.in_(seqs)).order_by(a.seq)
        ):
            if request is not None:
                outcomes.setdefault(request, []).append((seq, outcome))
    return [
        AuditLine(*r[:9], request_seq=r.request_seq, outcomes=tuple(outcomes.get(r.seq, ())))
        for r in rows
    ]


def audit_choices(session: Session) -> tuple[list[str], list[str]]:
    """The actions and the outcomes the audit log holds, for the filters' choices."""
    a = AuditRecord
    actions = session.scalars(select(a.action).distinct().order_by(a.action)).all()
    outcomes = session.scalars(select(a.outcome).distinct().order_by(a.outcome)).all()
    return list(actions), list(outcomes)
