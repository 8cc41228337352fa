"""Rollups of settled history, so a year of ledger reads like a day of it.

A rollup row aggregates one closed slice of time (a day of runs, an hour of SLO events, one chart
bucket of run durations, a day of graded bets). Rows are filled lazily by the first reader that needs a slice older
than SETTLE, and deleted by the writer that changes a row of that slice (insert, ORM update or
delete, ORM bulk update), so the next reader recomputes it from the ledger. Readers add the
unsettled edges (the part of the window before the first whole slice, and the last SETTLE plus
the open slice) from the ledger itself, so every figure is the same as a scan of the raw rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Select, Table, case, delete, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, attributes
from sqlalchemy.sql.dml import Delete, Insert, Update

from app.models import (
    Grade,
    OpportunityRow,
    PipelineRun,
    RollupGradeDay,
    RollupRunBucket,
    RollupRunDay,
    RollupSloHour,
    SourceSnapshot,
    SourceState,
)

SETTLE = timedelta(minutes=5)  # younger slices may still change (a running run): never stored
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MARKER = "*"  # a row with this pipeline says "this slice was computed", even when it was empty
FRESHNESS_REACH = timedelta(hours=1)  # a snapshot changes the freshness of ticks this far after it


def _table(model: type[Any]) -> Table:
    """The Core table of a mapped class (typed as such)."""
    return cast(Table, model.__table__)


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


def upsert(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Store computed slices; a slice another reader stored first is kept."""
    if rows:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(model).on_conflict_do_nothing(), list(rows))


def missing_ranges(
    session: Session, column: Any, where: Sequence[Any], lo: datetime, hi: datetime, size: timedelta
) -> list[tuple[datetime, datetime]]:
    """Contiguous runs of slices of `size` in [lo, hi) that have no stored row yet."""
    have = {
        _aware(t)
        for t in session.scalars(select(column).where(*where, column >= lo, column < hi).distinct())
    }
    ranges: list[tuple[datetime, datetime]] = []
    t = lo
    while t < hi:
        if t not in have:
            if ranges and ranges[-1][1] == t:
                ranges[-1] = (ranges[-1][0], t + size)
            else:
                ranges.append((t, t + size))
        t += size
    return ranges


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def slices(lo: datetime, hi: datetime, size: timedelta) -> Iterable[datetime]:
    """Start of every slice of `size` in [lo, hi)."""
    t = lo
    while t < hi:
        yield t
        t += size


# --- invalidation --------------------------------------------------------------------------

_TIMES: dict[str, tuple[str, ...]] = {
    PipelineRun.__tablename__: ("created_at", "started_at"),
    OpportunityRow.__tablename__: ("detected_at",),
    SourceSnapshot.__tablename__: ("fetched_at",),
    SourceState.__tablename__: (),
    Grade.__tablename__: ("graded_at",),
}


def forget(
    conn: Any, table: str, times: dict[str, list[datetime]], everything: bool = False
) -> None:
    """Delete the rollup slices that rows of `table` at `times` (column -> values) fall in."""
    slo = _table(RollupSloHour)
    if everything:
        if table == Grade.__tablename__:
            conn.execute(delete(_table(RollupGradeDay)))
            return
        conn.execute(delete(slo))
        if table == PipelineRun.__tablename__:
            conn.execute(delete(_table(RollupRunDay)))
            conn.execute(delete(_table(RollupRunBucket)))
        return
    values = {k: [_aware(v) for v in vs if isinstance(v, datetime)] for k, vs in times.items()}
    if table == PipelineRun.__tablename__:
        if created := values.get("created_at"):
            day = _table(RollupRunDay).c.day
            conn.execute(
                delete(_table(RollupRunDay)).where(
                    day >= floor_to(min(created), DAY), day <= floor_to(max(created), DAY)
                )
            )
        if started := values.get("started_at"):
            b = _table(RollupRunBucket).c
            conn.execute(
                delete(_table(RollupRunBucket)).where(
                    b.bucket_start <= max(started), b.bucket_end > min(started)
                )
            )
            _forget_hours(conn, min(started), max(started))
    elif table == SourceSnapshot.__tablename__:
        if fetched := values.get("fetched_at"):
            _forget_hours(conn, min(fetched), max(fetched) + FRESHNESS_REACH)
    elif table == OpportunityRow.__tablename__ and (detected := values.get("detected_at")):
        _forget_hours(conn, min(detected), max(detected))
    elif table == Grade.__tablename__ and (graded := values.get("graded_at")):
        day = _table(RollupGradeDay).c.day
        conn.execute(
            delete(_table(RollupGradeDay)).where(
                day >= floor_to(min(graded), DAY), day <= floor_to(max(graded), DAY)
            )
        )


def _forget_hours(conn: Any, lo: datetime, hi: datetime) -> None:
    hour = _table(RollupSloHour).c.hour
    conn.execute(
        delete(_table(RollupSloHour)).where(hour >= floor_to(lo, HOUR), hour <= floor_to(hi, HOUR))
    )


@event.listens_for(Engine, "before_execute")
def _inserted(conn: Any, clause: Any, multiparams: Any, params: Any, _opts: Any) -> None:
    """Any INSERT into a watched table (ORM flush, bulk or Core) forgets the slices it lands in."""
    if not isinstance(clause, Insert) or clause.table.name not in _TIMES:  # type: ignore[attr-defined]
        return
    table = clause.table.name  # type: ignore[attr-defined]
    if table == SourceState.__tablename__:  # a new source changes which snapshots count
        forget(conn, table, {}, everything=True)
        return
    rows: list[Any] = list(multiparams or []) + ([params] if params else [])
    if isinstance(rows[:1] and rows[0], list | tuple):
        rows = list(rows[0])
    rows = [r for r in rows if isinstance(r, dict)]
    cols = _TIMES[table]
    times = {c: [r[c] for r in rows if r.get(c) is not None] for c in cols}
    if not rows or any(not times[c] for c in cols):
        # values inlined into the statement or left to defaults: fall back to the row's own clock
        times = {c: [datetime.now(UTC)] for c in cols}
    forget(conn, table, times)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _ctx: Any) -> None:
    """Updated or deleted ORM objects forget the slices of their old and new times."""
    changed: dict[str, dict[str, list[datetime]]] = {}
    for obj in (*session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table not in _TIMES:
            continue
        if table == SourceState.__tablename__:
            if obj in session.deleted:
                changed[table] = {}
            continue
        per = changed.setdefault(table, {})
        for col in _TIMES[table]:
            hist = attributes.get_history(obj, col)
            per.setdefault(col, []).extend(
                v for v in (*hist.added, *hist.unchanged, *hist.deleted) if v is not None
            )
    conn = session.connection() if changed else None
    for table, times in changed.items():
        forget(conn, table, times, everything=table == SourceState.__tablename__)


@event.listens_for(Session, "do_orm_execute")
def _bulk_changed(state: Any) -> None:
    """An ORM bulk UPDATE or DELETE forgets the slices of every row it is about to touch."""
    stmt = state.statement
    if not isinstance(stmt, Update | Delete):
        return
    table = stmt.table.name  # type: ignore[attr-defined,union-attr]
    if table not in _TIMES or not _TIMES[table]:
        return
    t = stmt.table  # type: ignore[attr-defined]
    cols = [t.c[c] for c in _TIMES[table]]
    query: Select[Any] = select(*[f(c) for c in cols for f in (func.min, func.max)])
    if stmt.whereclause is not None:
        query = query.where(stmt.whereclause)
    conn = state.session.connection()
    row = conn.execute(query, state.parameters or {}).one()
    times = {
        c: [v for v in row[2 * i : 2 * i + 2] if v is not None] for i, c in enumerate(_TIMES[table])
    }
    if isinstance(stmt, Update) and any(
        getattr(c, "key", c) in _TIMES[table] for c in stmt._values or {}
    ):
        forget(conn, table, times, everything=True)  # times themselves move: start over
    else:
        forget(conn, table, times)


# --- runs per day: counts, durations (pipeline summaries, run-history totals) ---------------

RUN_KEY = ("pipeline", "status", "trigger")


def _day_rows(session: Session, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    """RollupRunDay rows for [lo, hi) computed from the ledger, markers included."""
    r = PipelineRun
    day = _floor_sql(session, r.created_at, DAY)
    rows = session.execute(
        select(
            day,
            r.pipeline,
            r.status,
            r.trigger,
            func.count(),
            func.count(r.duration_ms),
            func.coalesce(func.sum(r.duration_ms), 0.0),
            func.max(r.duration_ms),
            func.max(r.started_at),
        )
        .where(r.created_at >= lo, r.created_at < hi)
        .group_by(day, r.pipeline, r.status, r.trigger)
    ).all()
    out = [
        {
            "day": from_epoch(d),
            "pipeline": p,
            "status": s,
            "trigger": t,
            "runs": n,
            "timed": timed,
            "duration_sum_ms": float(total),
            "duration_max_ms": mx,
            "last_started_at": _aware(last) if isinstance(last, datetime) else _parse(last),
        }
        for d, p, s, t, n, timed, total, mx, last in rows
    ]
    out += [
        {"day": d, "pipeline": MARKER, "status": "", "trigger": "", "runs": 0}
        for d in slices(lo, hi, DAY)
    ]
    return out


def run_totals(
    session: Session,
    since: datetime | None,
    now: datetime,
    until: datetime | None = None,
    **equal: str | None,
) -> dict[tuple[str, str, str], list[Any]]:
    """Runs created in [since, until) per (pipeline, status, trigger): [runs, timed, sum ms,
    max ms, last started], from day rollups plus the unsettled edges; `equal` filters columns."""
    r, d = PipelineRun, RollupRunDay
    if since is None:
        first = session.scalar(select(func.min(r.created_at)))
        if first is None:
            return {}
        since = floor_to(_aware(first), DAY)
    lo, hi = ceil_to(since, DAY), settled_before(now, DAY)
    if until is not None:
        hi = min(hi, floor_to(until, DAY))
    totals: dict[tuple[str, str, str], list[Any]] = {}
    raw: list[tuple[datetime, datetime | None]] = [(since, until)]
    if lo < hi:
        for a, b in missing_ranges(session, d.day, [d.pipeline == MARKER], lo, hi, DAY):
            upsert(session, RollupRunDay, _day_rows(session, a, b))
        conds = [d.day >= lo, d.day < hi, d.pipeline != MARKER]
        conds += [getattr(d, k) == v for k, v in equal.items() if v]
        stored = session.execute(
            select(
                d.pipeline,
                d.status,
                d.trigger,
                func.sum(d.runs),
                func.sum(d.timed),
                func.sum(d.duration_sum_ms),
                func.max(d.duration_max_ms),
                func.max(d.last_started_at),
            )
            .where(*conds)
            .group_by(d.pipeline, d.status, d.trigger)
        ).all()
        for p, s, t, *values in stored:
            _merge(totals, (p, s, t), values)
        raw = [(since, lo), (hi, until)]
    for start, end in raw:
        conds = [r.created_at >= start] + ([r.created_at < end] if end is not None else [])
        conds += [getattr(r, k) == v for k, v in equal.items() if v]
        for p, s, t, *values in session.execute(
            select(
                r.pipeline,
                r.status,
                r.trigger,
                func.count(),
                func.count(r.duration_ms),
                func.coalesce(func.sum(r.duration_ms), 0.0),
                func.max(r.duration_ms),
                func.max(r.started_at),
            )
            .where(*conds)
            .group_by(r.pipeline, r.status, r.trigger)
        ):
            _merge(totals, (p, s, t), values)
    return totals


def _merge(totals: dict[Any, list[Any]], key: Any, values: Sequence[Any]) -> None:
    n, timed, total, mx, last = values
    last = _aware(last) if isinstance(last, datetime) else _parse(last)
    cur = totals.setdefault(key, [0, 0, 0.0, None, None])
    cur[0] += int(n or 0)
    cur[1] += int(timed or 0)
    cur[2] += float(total or 0.0)
    if mx is not None:
        cur[3] = mx if cur[3] is None else max(cur[3], mx)
    if last is not None:
        cur[4] = last if cur[4] is None else max(cur[4], last)


def _parse(value: Any) -> datetime | None:
    if value is None:
        return None
    return _aware(datetime.fromisoformat(str(value)))


# --- graded bets per day and strategy (strategies page, ROI / hit rate / CLV gauges) --------

CLV_MIN, CLV_MAX, CLV_WIDTH = -0.10, 0.10, 0.005  # histogram: half-point bins over +-10 points
CLV_BINS = round((CLV_MAX - CLV_MIN) / CLV_WIDTH) + 2  # and one bin for each tail
GRADE_SUMS = ("bets", "wins", "losses", "pushes", "staked", "units", "clv_sum", "clv_n")


def clv_bin_edges() -> list[tuple[float | None, float | None]]:
    """[lo, hi) of every CLV histogram bin; the tails are open (None)."""
    inner = [(CLV_MIN + i * CLV_WIDTH, CLV_MIN + (i + 1) * CLV_WIDTH) for i in range(CLV_BINS - 2)]
    return [(None, CLV_MIN), *inner, (CLV_MAX, None)]


def _clv_bin(column: Any) -> Any:
    inner = func.floor((column - CLV_MIN) / CLV_WIDTH) + 1
    return case(
        (column.is_(None), None),  # SQLite's floor() refuses NULL
        (column < CLV_MIN, 0),
        (column >= CLV_MAX, CLV_BINS - 1),
        else_=inner,
    )


def _grade_rows(
    session: Session, lo: datetime, hi: datetime | None, markers: bool
) -> list[dict[str, Any]]:
    """Per UTC day and strategy, grades graded in [lo, hi) summed from the grades table."""
    g = Grade
    day = _floor_sql(session, g.graded_at, DAY)
    settled = g.result != "void"
    conds = [g.graded_at >= lo] + ([g.graded_at < hi] if hi is not None else [])
    clv_bin = _clv_bin(g.clv)
    found: dict[tuple[datetime, str], dict[str, Any]] = {}
    for d, strategy, bin_, *sums in session.execute(
        select(
            day,
            g.strategy,
            clv_bin,
            func.sum(case_when(settled)),
            func.sum(case_when(g.result == "win")),
            func.sum(case_when(g.result == "loss")),
            func.sum(case_when(g.result == "push")),
            func.sum(case((settled, g.stake_units), else_=0.0)),
            func.sum(g.profit_units),
            func.coalesce(func.sum(g.clv), 0.0),
            func.count(g.clv),
        )
        .where(*conds)
        .group_by(day, g.strategy, clv_bin)
    ):
        key = (from_epoch(d), strategy)
        row = found.get(key)
        if row is None:
            row = found[key] = {
                "day": key[0],
                "strategy": strategy,
                **dict.fromkeys(GRADE_SUMS, 0),
                "clv_bins": [0] * CLV_BINS,
            }
        for name, value in zip(GRADE_SUMS, sums, strict=True):
            row[name] += value or 0
        if bin_ is not None:
            row["clv_bins"][int(bin_)] += int(sums[-1] or 0)
    out = list(found.values())
    if markers and hi is not None:
        out += [
            {"day": t, "strategy": MARKER, **dict.fromkeys(GRADE_SUMS, 0), "clv_bins": []}
            for t in slices(lo, hi, DAY)
        ]
    return out


def grade_days(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every grade summed per UTC day and strategy (bets, wins, losses, pushes, staked, units,
    clv_sum, clv_n, clv_bins), oldest first: settled days from the rollup (computed on first
    read), the last SETTLE and today from the grades table."""
    d = RollupGradeDay
    first = session.scalar(select(func.min(Grade.graded_at)))
    if first is None:
        return []
    lo, hi = floor_to(_aware(first), DAY), settled_before(now, DAY)
    out: list[dict[str, Any]] = []
    if lo < hi:
        for a, b in missing_ranges(session, d.day, [d.strategy == MARKER], lo, hi, DAY):
            upsert(session, RollupGradeDay, _grade_rows(session, a, b, markers=True))
        sums = [getattr(d, name) for name in GRADE_SUMS]
        for day, strategy, bins, *values in session.execute(
            select(d.day, d.strategy, d.clv_bins, *sums)
            .where(d.day >= lo, d.day < hi, d.strategy != MARKER)
            .order_by(d.day)
        ):
            out.append(
                {
                    "day": _aware(day),
                    "strategy": strategy,
                    **dict(zip(GRADE_SUMS, values, strict=True)),
                    "clv_bins": bins,
                }
            )
    out += sorted(_grade_rows(session, max(lo, hi), None, markers=False), key=lambda r: r["day"])
    return out


# --- SQL helpers shared by both dialects ----------------------------------------------------


def epoch_sql(session: Session, column: Any) -> Any:
    """Seconds since the epoch of a timestamp column, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", column)
    return func.strftime("%s", column) + 0


def _floor_sql(session: Session, column: Any, size: timedelta) -> Any:
    seconds = int(size.total_seconds())
    return func.floor(epoch_sql(session, column) / seconds) * seconds


def from_epoch(seconds: Any) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


# --- SLO events per hour ---------------------------------------------------------------------


def slo_hour_rows(
    session: Session, name: str, events: Any, lo: datetime, hi: datetime
) -> list[tuple[datetime, int, int]]:
    """(hour, events, bad) of SLO `name` for every whole hour in [lo, hi), oldest first; missing
    hours are computed with `events(since, until)` (a select of at, bad) and stored."""
    h = RollupSloHour
    for a, b in missing_ranges(session, h.hour, [h.slo == name], lo, hi, HOUR):
        ev = events(a, b).subquery()
        hour = _floor_sql(session, ev.c.at, HOUR)
        found = {
            from_epoch(t): (int(n), int(bad or 0))
            for t, n, bad in session.execute(
                select(hour, func.count(), func.sum(ev.c.bad)).where(ev.c.at < b).group_by(hour)
            )
        }
        upsert(
            session,
            RollupSloHour,
            [
                {
                    "slo": name,
                    "hour": t,
                    "events": found.get(t, (0, 0))[0],
                    "bad": found.get(t, (0, 0))[1],
                }
                for t in slices(a, b, HOUR)
            ],
        )
    return [
        (_aware(t), int(n), int(bad))
        for t, n, bad in session.execute(
            select(h.hour, h.events, h.bad)
            .where(h.slo == name, h.hour >= lo, h.hour < hi)
            .order_by(h.hour)
        )
    ]


# --- chart buckets of runs by start time: duration percentiles and outcomes -----------------

FINISHED = ("succeeded", "failed", "partial")


def bucket_rows(
    session: Session, lo: datetime, hi: datetime | None, size: timedelta
) -> list[dict[str, Any]]:
    """Per pipeline and bucket of `size`, runs started in [lo, hi): timed runs, p50 / p95 / p99
    duration (percentile_cont on PostgreSQL; the same interpolation in Python on SQLite),
    finished runs and successes."""
    r = PipelineRun
    bucket = _floor_sql(session, r.started_at, size).label("bucket")
    conds = [r.started_at >= lo] + ([r.started_at < hi] if hi is not None else [])
    ok = func.sum(case_when(r.status == "succeeded"))
    done = func.sum(case_when(r.status.in_(FINISHED)))
    if session.get_bind().dialect.name == "postgresql":
        pct = [func.percentile_cont(q).within_group(r.duration_ms) for q in (0.5, 0.95, 0.99)]
        rows = session.execute(
            select(r.pipeline, bucket, func.count(r.duration_ms), *pct, done, ok)
            .where(*conds)
            .group_by(r.pipeline, bucket)
        ).all()
        return [
            _bucket_dict(p, from_epoch(b), size, n, p50, p95, p99, fin, succ)
            for p, b, n, p50, p95, p99, fin, succ in rows
        ]
    grouped: dict[tuple[str, float], list[Any]] = {}
    for p, b, ms, status in session.execute(
        select(r.pipeline, bucket, r.duration_ms, r.status).where(*conds).order_by(r.duration_ms)
    ):
        g = grouped.setdefault((p, b), [[], 0, 0])
        if ms is not None:
            g[0].append(float(ms))
        g[1] += status in FINISHED
        g[2] += status == "succeeded"
    return [
        _bucket_dict(
            p, from_epoch(b), size, len(v), _pick(v, 0.5), _pick(v, 0.95), _pick(v, 0.99), f, s
        )
        for (p, b), (v, f, s) in grouped.items()
    ]


def case_when(condition: Any) -> Any:
    """1 where `condition` holds, else 0 (to sum)."""
    return case((condition, 1), else_=0)


def _pick(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile of sorted values, as percentile_cont computes it."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _bucket_dict(
    pipeline: str,
    start: datetime,
    size: timedelta,
    timed: Any,
    p50: Any,
    p95: Any,
    p99: Any,
    finished: Any,
    succeeded: Any,
) -> dict[str, Any]:
    return {
        "size_s": int(size.total_seconds()),
        "bucket_start": start,
        "pipeline": pipeline,
        "bucket_end": start + size,
        "timed": int(timed or 0),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "finished": int(finished or 0),
        "succeeded": int(succeeded or 0),
    }


def run_buckets(
    session: Session, since: datetime, now: datetime, size: timedelta
) -> list[dict[str, Any]]:
    """Whole buckets of `size` from the one holding `since` to now: settled ones from the
    rollup (computed once), the open ones from the ledger."""
    b = RollupRunBucket
    size_s = int(size.total_seconds())
    lo, hi = floor_to(since, size), settled_before(now, size)
    out: list[dict[str, Any]] = []
    if lo < hi:
        where = [b.size_s == size_s, b.pipeline == MARKER]
        for a, z in missing_ranges(session, b.bucket_start, where, lo, hi, size):
            rows = bucket_rows(session, a, z, size)
            rows += [
                _bucket_dict(MARKER, t, size, 0, None, None, None, 0, 0) for t in slices(a, z, size)
            ]
            upsert(session, RollupRunBucket, rows)
        stored = session.scalars(
            select(b).where(
                b.size_s == size_s, b.bucket_start >= lo, b.bucket_start < hi, b.pipeline != MARKER
            )
        )
        out = [
            _bucket_dict(
                s.pipeline,
                s.bucket_start,
                size,
                s.timed,
                s.p50_ms,
                s.p95_ms,
                s.p99_ms,
                s.finished,
                s.succeeded,
            )
            for s in stored
        ]
        lo = hi
    out += bucket_rows(session, lo, None, size)
    out.sort(key=lambda row: (row["pipeline"], row["bucket_start"]))
    return out
