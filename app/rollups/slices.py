"""Slices of time and the SQL both backends share: what every rollup section is cut into."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

SETTLE = timedelta(minutes=5)  # younger slices may still change (a running run): never stored
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BLOCK = timedelta(days=30)  # a long window's fixed blocks, aligned to the epoch like every slice
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MARKER = "*"  # a row under this key says "this slice was computed", even when it was empty
CHUNK_SPAN = timedelta(days=8)  # time computed and stored per transaction of a refresh
# PostgreSQL advisory lock: writers of settled slices hold it shared until they commit, a refresh
# holds it exclusively while it computes and stores a chunk, so it never stores a stale slice.
LOCK_KEY = 0x6475_676F_7574  # "dugout"


def table_of(model: type[Any]) -> Table:
    """The Core table of a mapped class (typed as such)."""
    return cast(Table, model.__table__)


def aware(t: datetime) -> datetime:
    """`t` as an aware UTC datetime (SQLite hands back naive ones)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_time(value: Any) -> datetime | None:
    """A timestamp from an aggregate that SQLite returns as text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return aware(value)
    return aware(datetime.fromisoformat(str(value)))


def floor_to(t: datetime, size: timedelta) -> datetime:
    """`t` rounded down to a multiple of `size` since the epoch."""
    return EPOCH + size * ((t - EPOCH) // size)


def ceil_to(t: datetime, size: timedelta) -> datetime:
    """`t` rounded up to a multiple of `size` since the epoch."""
    lo = floor_to(t, size)
    return lo if lo == t else lo + size


def settled_before(now: datetime, size: timedelta) -> datetime:
    """The end of the newest slice of `size` that may be stored at `now`."""
    return floor_to(now - SETTLE, size)


def slices(lo: datetime, hi: datetime, size: timedelta) -> Iterable[datetime]:
    """Start of every slice of `size` in [lo, hi)."""
    t = lo
    while t < hi:
        yield t
        t += size


def gaps(
    have: Iterable[datetime], lo: datetime, hi: datetime, size: timedelta
) -> list[tuple[datetime, datetime]]:
    """Contiguous runs of slices of `size` in [lo, hi) whose start is not in `have`."""
    present = {aware(t) for t in have}
    ranges: list[tuple[datetime, datetime]] = []
    for t in slices(lo, hi, size):
        if t in present:
            continue
        if ranges and ranges[-1][1] == t:
            ranges[-1] = (ranges[-1][0], t + size)
        else:
            ranges.append((t, t + size))
    return ranges


def missing_ranges(
    session: Session, column: Any, where: Sequence[Any], lo: datetime, hi: datetime, size: timedelta
) -> list[tuple[datetime, datetime]]:
    """Contiguous runs of slices of `size` in [lo, hi) (rows on the grid) that have no stored
    row yet: one count when every slice is stored (the usual case: a year of days costs one
    row, not 365 converted timestamps), the stored starts read otherwise."""
    if lo >= hi:
        return []
    matching = [*where, column >= lo, column < hi]
    present = session.scalar(select(func.count(func.distinct(column))).where(*matching))
    if present == (hi - lo) // size:
        return []
    return gaps(session.scalars(select(column).where(*matching).distinct()), lo, hi, size)


def chunked(
    ranges: Iterable[tuple[datetime, datetime]], size: timedelta, span: timedelta = CHUNK_SPAN
) -> Iterable[tuple[datetime, datetime]]:
    """Each range cut into pieces of whole slices spanning at most `span` (one slice at least)."""
    most = max(1, span // size)
    for lo, hi in ranges:
        while lo < hi:
            end = min(hi, lo + size * most)
            yield lo, end
            lo = end


def hold_writers(session: Session, model: type[Any], where: Sequence[Any]) -> bool:
    """Start a refresh chunk: no writer of a settled slice may commit until this transaction
    does (PostgreSQL: the exclusive advisory lock; SQLite: the database write lock, taken by
    clearing the chunk's rows), so what the chunk computes next is what it stores. False when
    such a writer is still in flight: the chunk waits for the next refresh, and a refresh never
    queues for the lock (so it never closes a circle of waits with two writers)."""
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(LOCK_KEY))
    ):
        session.rollback()
        return False
    session.execute(delete(model).where(*where))
    return True


def insert_missing(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Store computed slices; a slice another process stored first is kept."""
    if rows:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(model).on_conflict_do_nothing(), list(rows))


# --- SQL shared by both dialects -----------------------------------------------------------


def epoch_sql(session: Session, column: Any) -> Any:
    """Seconds since the epoch of a timestamp column, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", column)
    return func.strftime("%s", column) + 0


def floor_sql(session: Session, column: Any, size: timedelta) -> Any:
    """Seconds since the epoch of `column` rounded down to a slice of `size`."""
    seconds = int(size.total_seconds())
    return func.floor(epoch_sql(session, column) / seconds) * seconds


def from_epoch(seconds: Any) -> datetime:
    """The UTC datetime of seconds since the epoch."""
    return datetime.fromtimestamp(float(seconds), UTC)


def case_when(condition: Any) -> Any:
    """1 where `condition` holds, else 0 (to sum)."""
    return case((condition, 1), else_=0)


def refresh_sized(
    session: Session,
    now: datetime,
    reach: Mapping[timedelta, timedelta],
    model: type[Any],
    start: Any,
    first: Any,
    rows: Callable[[Session, datetime, datetime, timedelta], list[dict[str, Any]]],
) -> int:
    """For each slice size and how far back its readers look, store the settled slices of
    `model` (keyed by `size_s` and its `start` column) that have no rows yet, committing chunk
    by chunk, and drop the ones no reader reaches any more; `first` is the ledger column whose
    oldest value bounds the history, `rows` computes a chunk (markers included). Slices stored."""
    oldest = session.scalar(select(func.min(first)))
    stored = 0
    for size, back in reach.items():
        size_s = int(size.total_seconds())
        lo, hi = floor_to(now - back - size, size), settled_before(now, size)
        session.execute(delete(model).where(model.size_s == size_s, start < lo))
        if oldest is None:
            continue
        lo = max(lo, floor_to(aware(oldest), size))
        where = [model.size_s == size_s, model.pipeline == MARKER]
        for a, z in chunked(missing_ranges(session, start, where, lo, hi, size), size):
            span = [model.size_s == size_s, start >= a, start < z]
            if not hold_writers(session, model, span):
                continue
            insert_missing(session, model, rows(session, a, z, size))
            session.commit()
            stored += len(list(slices(a, z, size)))
    return stored
