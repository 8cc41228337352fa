"""Alerts: the firing ones for the status picture, and the filtered list of the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Alert


def alert_fields(a: Alert) -> dict[str, Any]:
    """An alert row as plain data."""
    return {
        "id": str(a.id),
        "key": a.key,
        "severity": a.severity,
        "title": a.title,
        "message": a.message,
        "labels": a.labels,
        "status": a.status,
        "fired_at": a.fired_at,
        "last_seen_at": a.last_seen_at,
        "resolved_at": a.resolved_at,
    }


def alerts(
    session: Session, status: str | None = "firing", severity: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Alerts newest first, of one status (None: any) and severity (None: any)."""
    query = select(Alert).order_by(Alert.fired_at.desc()).limit(limit)
    if status is not None:
        query = query.where(Alert.status == status)
    if severity:
        query = query.where(Alert.severity == severity)
    return [alert_fields(a) for a in session.scalars(query)]


def firing_alerts(session: Session) -> list[dict[str, Any]]:
    """Every alert still firing, newest first."""
    query = select(Alert).where(Alert.status == "firing").order_by(Alert.fired_at.desc())
    return [alert_fields(a) for a in session.scalars(query)]
