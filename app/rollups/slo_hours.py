"""Events and bad events of each SLO per settled UTC hour (error budgets and burn rates over
30 days). Every hour of the compliance window has a row, zero or not, once computed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from app.models import RollupSloHour
from app.rollups.slices import (
    HOUR,
    aware,
    ceil_to,
    chunked,
    floor_sql,
    from_epoch,
    gaps,
    hold_writers,
    insert_missing,
    missing_ranges,
    settled_before,
    slices,
)

# (since, until) -> a select of (at, bad) events; `until` inclusive, as the SLOs define them
Events = Callable[[datetime, datetime], Select[Any]]
HourRow = tuple[datetime, int, int]  # (hour, events, bad)


class Objective(Protocol):
    """What a refresh needs of an SLO (app.observability.slo.SLO): its name and event query."""

    @property
    def name(self) -> str: ...

    def between(self, session: Session, since: datetime, until: datetime) -> Any: ...


def rows_from_ledger(session: Session, events: Events, lo: datetime, hi: datetime) -> list[HourRow]:
    """(hour, events, bad) for every hour in [lo, hi), zero hours included, from the ledger."""
    ev = events(lo, hi).subquery()
    hour = floor_sql(session, ev.c.at, HOUR)
    found = {
        from_epoch(t): (int(n), int(bad or 0))
        for t, n, bad in session.execute(
            select(hour, func.count(), func.sum(ev.c.bad)).where(ev.c.at < hi).group_by(hour)
        )
    }
    return [(t, *found.get(t, (0, 0))) for t in slices(lo, hi, HOUR)]


def refresh(session: Session, now: datetime, slos: Iterable[Objective], reach: timedelta) -> int:
    """Store each SLO's settled hours of the last `reach` that have no row yet (committing
    chunk by chunk), and drop the hours no window reaches any more; hours stored."""
    h = RollupSloHour
    lo, hi = ceil_to(now - reach, HOUR) - HOUR, settled_before(now, HOUR)
    session.execute(delete(h).where(h.hour < lo))
    stored = 0
    for slo in slos:

        def events(since: datetime, until: datetime, slo: Objective = slo) -> Select[Any]:
            return slo.between(session, since, until)  # type: ignore[no-any-return]

        missing = missing_ranges(session, h.hour, [h.slo == slo.name], lo, hi, HOUR)
        for a, b in chunked(missing, HOUR):
            span = [h.slo == slo.name, h.hour >= a, h.hour < b]
            if not hold_writers(session, RollupSloHour, span):
                continue
            rows = rows_from_ledger(session, events, a, b)
            insert_missing(
                session,
                RollupSloHour,
                [{"slo": slo.name, "hour": t, "events": n, "bad": bad} for t, n, bad in rows],
            )
            session.commit()
            stored += len(rows)
    return stored


def hour_rows(
    session: Session, name: str, events: Events, lo: datetime, hi: datetime
) -> list[HourRow]:
    """(hour, events, bad) of SLO `name` for every whole hour in [lo, hi), oldest first:
    stored hours from the rollup, the others computed from the ledger (never stored here:
    reads do not write)."""
    h = RollupSloHour
    stored = [
        (aware(t), int(n), int(bad))
        for t, n, bad in session.execute(
            select(h.hour, h.events, h.bad)
            .where(h.slo == name, h.hour >= lo, h.hour < hi)
            .order_by(h.hour)
        )
    ]
    missing = gaps((t for t, _, _ in stored), lo, hi, HOUR)
    if not missing:
        return stored
    for a, b in missing:
        stored += rows_from_ledger(session, events, a, b)
    return sorted(stored)
