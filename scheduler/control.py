"""The kill switch: one row every worker reads, so it blocks runs the moment it is engaged.

It lives in the circuit_breakers table as the breaker named `kill_switch` (state "open" while
engaged): the master breaker that nothing passes. See the report for a dedicated table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import AuditRecord, CircuitBreaker

KILL_SWITCH = "kill_switch"


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    """Whether the kill switch is engaged, since when and by whom (from the audit log)."""

    engaged: bool
    since: datetime | None = None
    by: str | None = None
    reason: str | None = None


class KillSwitch:
    """Reads and flips the kill switch row."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    def engaged(self) -> bool:
        """True while the kill switch blocks runs."""
        with self.sessions() as session:
            row = session.get(CircuitBreaker, KILL_SWITCH)
            return row is not None and row.state == "open"

    def state(self) -> KillSwitchState:
        """The switch with who engaged it and why, for the banner."""
        with self.sessions() as session:
            row = session.get(CircuitBreaker, KILL_SWITCH)
            if row is None or row.state != "open":
                return KillSwitchState(False)
            audit = session.scalars(
                select(AuditRecord)
                .where(
                    AuditRecord.action == "kill_switch",
                    AuditRecord.target == "engage",
                    AuditRecord.outcome == "requested",
                )
                .order_by(AuditRecord.seq.desc())
                .limit(1)
            ).first()
            return KillSwitchState(
                True, row.opened_at, audit.actor if audit else None, audit.reason if audit else None
            )

    def set(self, session: Session, engaged: bool) -> bool:
        """Engage or lift inside `session`; True when the state changed."""
        row = session.get(CircuitBreaker, KILL_SWITCH, with_for_update=True)
        now = self.clock()
        if row is None:
            row = CircuitBreaker(
                name=KILL_SWITCH, state="closed", consecutive_failures=0, updated_at=now
            )
            session.add(row)
        changed = (row.state == "open") != engaged
        if changed:
            row.state = "open" if engaged else "closed"
            row.opened_at = now if engaged else None
            row.updated_at = now
        return changed
