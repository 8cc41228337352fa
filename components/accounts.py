"""Account widgets: the accounts and audit tables' rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.queries.accounts import Account, AuditLine


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def account_rows(accounts: Sequence[Account]) -> list[dict[str, Any]]:
    """Rows of the accounts table: active as yes / no, last login to the second."""
    return [
        {
            "username": a.username,
            "role": a.role,
            "active": "yes" if a.active else "no",
            "last_login_at": _when(a.last_login_at),
        }
        for a in accounts
    ]


def audit_link(line: AuditLine) -> str:
    """How a record links to the others: an outcome names its request, a request its outcomes
    ("awaiting outcome" while a scheduler request has none yet)."""
    if line.request_seq is not None:
        return f"outcome of #{line.request_seq}"
    if line.outcomes:
        return "; ".join(f"{outcome} #{seq}" for seq, outcome in line.outcomes)
    if line.outcome == "requested":
        return "awaiting outcome"
    return ""


def audit_rows(lines: Sequence[AuditLine]) -> list[dict[str, Any]]:
    """Rows of the audit table, newest first as given."""
    return [
        {
            "seq": a.seq,
            "at": _when(a.at),
            "actor": a.actor,
            "role": a.role or "",
            "action": a.action,
            "target": a.target or "",
            "outcome": a.outcome,
            "linked": audit_link(a),
            "reason": a.reason or "",
            "source_ip": a.source_ip or "",
        }
        for a in lines
    ]
