"""Each source's state: age of its newest data, last fetch and error, quota."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import SourceState


def source_freshness(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every source by name: `age_s` (seconds since its newest data, None before any),
    `last_fetch_at`, `last_error_type`, `last_error` and `quota_remaining`."""
    return [
        {
            "source": s.source,
            "age_s": (now - s.newest_update_at).total_seconds() if s.newest_update_at else None,
            "last_fetch_at": s.last_fetch_at,
            "last_error_type": s.last_error_type,
            "last_error": s.last_error,
            "quota_remaining": s.quota_remaining,
        }
        for s in session.scalars(select(SourceState).order_by(SourceState.source))
    ]
