"""Scheduler alerts in the shared Alert table: raised once per key while firing, then resolved."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import Alert

log = logging.getLogger("dugout.scheduler.alerts")

WATCHDOG = "scheduler:watchdog"
FALLBACK = "scheduler:fallback"
KILL_SWITCH = "scheduler:kill_switch"
DATABASE_LOST = "scheduler:database_lost"


def breaker_key(name: str) -> str:
    """The alert key of one job's circuit breaker."""
    return f"scheduler:breaker:{name}"


def job_error_key(job_id: str) -> str:
    """The alert key for errors escaping a scheduled job."""
    return f"scheduler:job_error:{job_id}"


class AlertBook:
    """Raises and resolves scheduler alerts; a failed write is logged, never raised."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    def raise_(
        self,
        key: str,
        title: str,
        message: str = "",
        *,
        severity: str = "page",
        labels: dict[str, Any] | None = None,
    ) -> None:
        """Fire `key` (or refresh it when it is already firing)."""
        now = self.clock()
        log.warning("alert: %s", title, extra={"alert": key, "detail": message})
        try:
            with self.sessions.begin() as session:
                alert = self._firing(session, key)
                if alert is None:
                    session.add(
                        Alert(
                            key=key,
                            severity=severity,
                            title=title[:255],
                            message=message,
                            labels=labels or {},
                            status="firing",
                            fired_at=now,
                            last_seen_at=now,
                        )
                    )
                else:
                    alert.title, alert.message, alert.last_seen_at = title[:255], message, now
        except Exception:
            log.exception("could not record alert %s", key)

    def resolve(self, key: str) -> bool:
        """Resolve `key` if it is firing; True when it was."""
        try:
            with self.sessions.begin() as session:
                alert = self._firing(session, key)
                if alert is None:
                    return False
                alert.status, alert.resolved_at = "resolved", self.clock()
                log.info("alert resolved", extra={"alert": key})
                return True
        except Exception:
            log.exception("could not resolve alert %s", key)
            return False

    def firing(self, key: str) -> bool:
        """True while `key` is firing."""
        with self.sessions() as session:
            return self._firing(session, key) is not None

    @staticmethod
    def _firing(session: Session, key: str) -> Alert | None:
        return session.scalars(
            select(Alert).where(Alert.key == key, Alert.status == "firing").limit(1)
        ).first()
