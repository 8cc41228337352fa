"""Account widgets: the accounts and audit tables' rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from app.queries.accounts import Account, AuditLine
from components.formatting import timestamp


def account_rows(accounts: Sequence[Account], tz: ZoneInfo | None = None) -> list[dict[str, Any]]:
    """Rows of the accounts table: active as yes / no, last login in the viewer's zone."""
    return [
        {
            "username": a.username,
            "role": a.role,
            "active": "yes" if a.active else "no",
            "last_login_at": timestamp(a.last_login_at, tz) if a.last_login_at else "never",
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


def audit_rows(lines: Sequence[AuditLine], tz: ZoneInfo | None = None) -> list[dict[str, Any]]:
    """Rows of the audit table, newest first as given, times to the second in `tz`."""
    return [
        {
            "seq": a.seq,
            "at": timestamp(a.at, tz, precise=True),
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
