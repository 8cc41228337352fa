"""The quota read for pages, `dugout status` and the quota alert: credits left, burn, run-out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import QuotaSample
from app.pipelines.quota import QuotaOverview, QuotaPlan, overview

BURN_WINDOW = timedelta(days=3)  # the burn rate is the spend over the last three days


def read_quota(
    session: Session, plan: QuotaPlan, source: str, now: datetime
) -> QuotaOverview | None:
    """The quota overview of one metered source, or None before its first sample."""
    samples = [
        (at, remaining)
        for at, remaining in session.execute(
            select(QuotaSample.at, QuotaSample.remaining)
            .where(
                QuotaSample.source == source,
                QuotaSample.at >= now - BURN_WINDOW,
                QuotaSample.at <= now,
            )
            .order_by(QuotaSample.at)
        )
    ]
    if not samples:
        latest = session.execute(
            select(QuotaSample.at, QuotaSample.remaining)
            .where(QuotaSample.source == source, QuotaSample.at <= now)
            .order_by(QuotaSample.at.desc())
            .limit(1)
        ).first()
        if latest is None:
            return None
        samples = [(latest[0], latest[1])]
    return overview(plan, source, now, samples)
