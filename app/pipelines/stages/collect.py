"""collect: every source -> validated quotes and splits, quarantine, snapshots, freshness."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, cast

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import Table, bindparam, case, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from app.db import PreparedStatement, UTCDateTime
from app.models import Game as GameRow
from app.models import (
    QuarantinedRow,
    QuotaSample,
    QuoteRow,
    SourceSnapshot,
    SourceState,
    SplitRow,
)
from app.pipelines.context import MARKET_OPEN_BEFORE_S, StageOutcome
from app.pipelines.identity import resolve_batch
from app.pipelines.quota import alert_reason, plan_poll
from app.pipelines.quota_read import read_quota
from app.pipelines.resilience import SourceRetryPolicy, breaker_name, fetch_with_retries
from app.pipelines.sources.base import SourceError
from app.pipelines.store import (
    insert_ignoring_duplicates,
    json_safe,
    quote_rows,
    source_states,
    split_rows,
    upsert_games,
)
from app.pipelines.types import SourceBatch, Split
from app.rollups.invalidation import forget

log = logging.getLogger("dugout.pipelines.collect")


def batch_hash(batch: SourceBatch) -> str:
    """The snapshot's content hash: the raw payload's when the source gives one."""
    if batch.raw_hash:
        return batch.raw_hash
    body = {
        "quotes": sorted(
            (q.game_key, q.market, q.side, q.book, q.price, q.point, q.last_update.isoformat())
            for q in batch.quotes
        ),
        "splits": sorted(
            (s.game_key, s.market, s.side, s.tickets_pct, s.money_pct, s.as_of.isoformat())
            for s in batch.splits
        ),
        "scores": sorted((s.game_key, s.status, s.home_score, s.away_score) for s in batch.scores),
    }
    return hashlib.sha256(json.dumps(body, default=str).encode()).hexdigest()


def _state(session: Session, source: str) -> SourceState:
    """The source's state row, created on first sight. Two first runs at once (two Celery
    workers, say) both insert-or-skip and then read the one row, rather than one failing on
    the primary key."""
    state = session.get(SourceState, source)
    if state is None:
        insert_ignoring_duplicates(session, SourceState, [{"source": source}])
        state = session.get(SourceState, source)
        assert state is not None
    return state


def _apply_scores(session: Session, batch: SourceBatch, now: datetime) -> int:
    by_key = {s.game_key: s for s in batch.scores}
    if not by_key:
        return 0
    changed = 0
    for row in session.scalars(select(GameRow).where(GameRow.game_key.in_(list(by_key)))):
        score = by_key[row.game_key]
        if row.updated_at is not None and row.updated_at > now:
            continue  # a replay of the past: the row holds a later state already
        if row.status in {"final", "cancelled"}:
            if row.status == "final" and row.innings is None and score.innings is not None:
                row.innings, row.detailed_state = score.innings, score.detail  # linescore later
            continue
        new = (score.status, score.home_score, score.away_score)
        if (row.status, row.home_score, row.away_score) != new:
            row.status, row.home_score, row.away_score = new
            row.updated_at = now
            changed += 1
        if score.detail is not None:
            row.detailed_state = score.detail
        if score.innings is not None:
            row.innings = score.innings
    return changed


def _newest(values: list[datetime]) -> datetime | None:
    return max(values, default=None)


def _later(column: Any, value: Any) -> Any:
    """`column` moved to `value` unless it already holds a later time (never moved back: a
    replay of the past beside a live server leaves its times alone), decided by the database
    in the UPDATE itself, so a writer between a read and this write cannot be overwritten."""
    return case((or_(column.is_(None), column < value), value), else_=column)


_STATES_TABLE = cast(Table, SourceState.__table__)
_STATE = _STATES_TABLE.c
# The success UPDATEs, one per set of columns given (built once each: one runs every fetch).
_SUCCESS: dict[frozenset[str], Any] = {}
_ADVANCED = ("newest_quote_at", "newest_split_at", "newest_update_at")


def _success_statement(given: frozenset[str]) -> Any:
    statement = _SUCCESS.get(given)
    if statement is None:
        values: dict[str, Any] = {
            "last_fetch_at": _later(_STATE.last_fetch_at, bindparam("now", type_=UTCDateTime)),
            "last_success_at": _later(_STATE.last_success_at, bindparam("now", type_=UTCDateTime)),
            "last_error_type": None,
            "last_error": None,
            "consecutive_failures": 0,
            "retry_at": None,
        }
        for name in sorted(given):
            if name in _ADVANCED:
                values[name] = _later(_STATE[name], bindparam(f"p_{name}", type_=UTCDateTime))
            else:
                values[name] = bindparam(f"p_{name}", type_=_STATE[name].type)
        statement = _SUCCESS[given] = (
            update(_STATES_TABLE)
            .where(_STATE.source == bindparam("state_source"))
            .values(values)
            .returning(*_STATE)
        )
    return statement


def record_success(
    session: Session,
    source: str,
    now: datetime,
    *,
    newest_quote: datetime | None = None,
    newest_split: datetime | None = None,
    provides: list[str] | None = None,
    quota: dict[str, Any] | None = None,
    poll: tuple[datetime | None] | None = None,
) -> Row[Any]:
    """Record a successful fetch on the source's state row (created on first sight) in one
    UPDATE: fetch and success times, errors and backoff cleared, the newest data times (each
    never moved back), what it provides, its quota headers, and with `poll` (the next paid
    poll's time) that paid kinds were polled now. Returns the row as written (read-only)."""
    newest = max((t for t in (newest_quote, newest_split) if t is not None), default=None)
    given: dict[str, Any] = {}
    for name, value in (
        ("newest_quote_at", newest_quote),
        ("newest_split_at", newest_split),
        ("newest_update_at", newest),
    ):
        if value is not None:
            given[name] = value
    if provides is not None:
        given["provides"] = provides
    if quota:
        given["quota_remaining"] = quota.get("remaining")
        given["quota_used"] = quota.get("used")
    if poll is not None:
        given["last_poll_at"], given["next_poll_at"] = now, poll[0]
    statement = _success_statement(frozenset(given))
    params = {"state_source": source, "now": now} | {f"p_{k}": v for k, v in given.items()}
    for _ in range(2):
        row = session.connection().execute(statement, params).first()
        if row is not None:
            return row
        # first sight: insert-or-skip (two first runs at once share the one row), then again
        insert_ignoring_duplicates(session, SourceState, [{"source": source}])
    raise AssertionError(f"no state row for source {source!r}")  # pragma: no cover


# A snapshot of the same content from the same source, and a new snapshot (built once each:
# one of them runs at every fetch).
_SNAPSHOTS = cast(Table, SourceSnapshot.__table__)
_INSERT_SNAPSHOT = PreparedStatement(
    insert(_SNAPSHOTS).values(
        {c.name: bindparam(f"n_{c.name}", type_=c.type) for c in _SNAPSHOTS.c}
    )
)
_SAME_SNAPSHOT = PreparedStatement(
    select(_SNAPSHOTS.c.id)
    .where(
        _SNAPSHOTS.c.source == bindparam("source"), _SNAPSHOTS.c.content_hash == bindparam("hash")
    )
    .limit(1)
)


def store_batch(
    session: Session,
    batch: SourceBatch,
    run_id: uuid.UUID,
    now: datetime,
    seen: dict[tuple[str, str, str, str, str], datetime],
    provides: frozenset[str] | None = None,
    games_seen: dict[str, int] | None = None,
    splits_seen: dict[str, set[SplitKey]] | None = None,
    poll: tuple[datetime | None] | None = None,
) -> dict[str, Any]:
    """Store one source's batch idempotently; returns counts for the stage record.

    Odds events are keyed to schedule games first (app.pipelines.identity), so quotes land on
    the right game even in a process that has never seen the event before. `games_seen` holds
    the mark of the games and scores this process last stored per source: the same ones again
    (most ticks) are not written again. The batch's mark is returned as `games_mark`, for the
    caller to remember once the transaction committed. `splits_seen` holds the split versions
    of the source's last stored batch: they are not sent again (the insert would skip them).
    `poll` (the next paid poll's time) records that the source's paid kinds were polled."""
    resolve_batch(session, batch, now)
    games_mark = hash((tuple(batch.games), tuple(batch.scores)))
    games_known = games_seen is not None and games_seen.get(batch.source) == games_mark
    content_hash = batch_hash(batch)
    newest_quote = _newest([q.last_update for q in batch.quotes])
    newest_split = _newest([s.as_of for s in batch.splits])
    newest = _newest([t for t in (newest_quote, newest_split) if t is not None])
    state = record_success(
        session,
        batch.source,
        now,
        newest_quote=newest_quote,
        newest_split=newest_split,
        provides=None if provides is None else sorted(provides),
        quota=batch.quota or None,
        poll=poll,
    )
    if batch.quota and batch.quota.get("remaining") is not None:
        session.add(
            QuotaSample(
                source=batch.source,
                at=now,
                remaining=batch.quota["remaining"],
                used=batch.quota.get("used"),
                last=batch.quota.get("last"),
            )
        )
    conn = session.connection()
    same = _SAME_SNAPSHOT.execute(conn, {"source": batch.source, "hash": content_hash})
    duplicate = same.first() is not None
    counts: dict[str, Any] = {
        "quotes": len(batch.quotes),
        "splits": len(batch.splits),
        "rejected": len(batch.rejected),
        "stored_quotes": 0,
        "duplicate": duplicate,
        "state": state,  # the source's state row as written (for the caller, not a count)
        "freshness_s": (
            None
            if state.newest_update_at is None
            else round((now - state.newest_update_at).total_seconds(), 3)
        ),
    }
    if duplicate:
        return counts
    counts["games_mark"] = games_mark
    snapshot_id = uuid.uuid4()
    _INSERT_SNAPSHOT.execute(
        conn,
        {
            "n_id": snapshot_id,
            "n_source": batch.source,
            "n_content_hash": content_hash,
            "n_fetched_at": now,
            "n_newest_update_at": newest,
            "n_quotes": len(batch.quotes),
            "n_splits": len(batch.splits),
            "n_quarantined": len(batch.rejected),
            "n_run_id": run_id,
        },
    )
    forget(conn, _SNAPSHOTS.name, {"fetched_at": [now]})  # a prepared insert: said here
    if not games_known:
        upsert_games(session, batch.games, now)
    changed = []
    for q in batch.quotes:
        key = (batch.source, q.game_key, q.market, q.side, q.book)
        last = seen.get(key)
        if last is None or q.last_update > last:
            changed.append(q)
    insert_ignoring_duplicates(
        session, QuoteRow, quote_rows(batch.source, snapshot_id, changed, now)
    )
    splits = batch.splits if splits_seen is None else new_splits(batch, splits_seen)
    insert_ignoring_duplicates(session, SplitRow, split_rows(batch.source, snapshot_id, splits))
    if batch.rejected:
        session.add_all(
            QuarantinedRow(
                source=r.source[:32],
                field=r.field[:64],
                reason=r.reason[:255],
                payload=json_safe(r.payload),
                snapshot_id=snapshot_id,
                run_id=run_id,
                created_at=now,
            )
            for r in batch.rejected
        )
    counts["scores_changed"] = 0 if games_known else _apply_scores(session, batch, now)
    counts["stored_quotes"] = len(changed)
    counts["changed_quotes"] = changed  # for the caller's replay window (not a count)
    return counts


def _remember(seen: dict[tuple[str, str, str, str, str], datetime], batch: SourceBatch) -> None:
    for q in batch.quotes:
        key = (batch.source, q.game_key, q.market, q.side, q.book)
        if key not in seen or q.last_update > seen[key]:
            seen[key] = q.last_update


SplitKey = tuple[str, str, str, datetime]  # the splits table's unique key, less the source


def new_splits(batch: SourceBatch, seen: dict[str, set[SplitKey]]) -> list[Split]:
    """The batch's split versions not in the source's last stored batch (stored then)."""
    last = seen.get(batch.source)
    if not last:
        return batch.splits
    return [s for s in batch.splits if (s.game_key, s.market, s.side, s.as_of) not in last]


def _remember_splits(seen: dict[str, set[SplitKey]], batch: SourceBatch) -> None:
    """Keep the split versions of the batch just stored (only the last: splits in force)."""
    seen[batch.source] = {(s.game_key, s.market, s.side, s.as_of) for s in batch.splits}


_TRACER = trace.get_tracer("dugout.pipelines")


def _fetch_in_span(source: Any, now: datetime, kinds: frozenset[str] | None = None) -> SourceBatch:
    """One source request as a child span of the stage: its counts, or its typed error."""
    with _TRACER.start_as_current_span(
        f"source {source.name}", record_exception=False, set_status_on_exception=False
    ) as span:
        span.set_attribute("dugout.source", source.name)
        try:
            batch: SourceBatch = source.fetch(now) if kinds is None else source.fetch(now, kinds)
        except Exception as exc:
            span.set_attribute("dugout.error_type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
            raise
        span.set_attribute("dugout.quotes", len(batch.quotes))
        span.set_attribute("dugout.rejected", len(batch.rejected))
        return batch


def _game_due(src: Any) -> bool:
    """Whether a scheduled game starts within MARKET_OPEN_BEFORE_S of this tick."""
    return bool(first_pitches(src, MARKET_OPEN_BEFORE_S, limit=1))


def first_pitches(src: Any, within_s: float, limit: int | None = None) -> list[datetime]:
    """First pitches of scheduled games within `within_s` of this tick (placeholders left out)."""
    soon = src.now + timedelta(seconds=within_s)
    query = select(GameRow.commence_time).where(
        GameRow.status == "scheduled",
        GameRow.commence_time > src.now,
        GameRow.commence_time <= soon,
        GameRow.start_time_source.is_distinct_from("tbd"),
    )
    if limit is not None:
        query = query.limit(limit)
    with src.sessions() as session:
        return list(session.scalars(query))


def _ordered(sources: Any) -> list[Any]:
    """Schedule-only sources first, so odds events are keyed against this tick's schedule."""
    return sorted(sources, key=lambda s: "quotes" in getattr(s, "provides", {"quotes"}))


def _blocked(src: Any, source: Any, state: Any) -> str | None:
    """Why the source is not called this tick: a Retry-After still running, or its breaker."""
    if state is not None and state.retry_at is not None and state.retry_at > src.now:
        return (
            f"SourceRateLimited: waiting until {state.retry_at:%H:%M:%S} UTC as the source "
            "asked (Retry-After)"
        )
    breakers = src.ctx.breakers
    if breakers is None or not _has_failed(state):
        return None  # only failures open a breaker: none recorded, nothing to ask (no write)
    verdict = breakers.allow(breaker_name(source.name))
    return None if verdict.allowed else f"CircuitOpen: {verdict.reason}"


def _has_failed(state: Any) -> bool:
    """Whether the source's last fetches failed (its breaker may be counting or open)."""
    return state is not None and (state.consecutive_failures or 0) > 0


def _planned_kinds(
    src: Any, source: Any, state: Any
) -> tuple[frozenset[str] | None, str | None, datetime | None]:
    """The kinds to fetch under the quota plan (None: all), why paid kinds wait if they do, and
    when the next paid poll is due."""
    plan = src.ctx.quota_plan
    metered: frozenset[str] = getattr(source, "metered", frozenset())
    if plan is None or not metered:
        return None, None, None
    decision = plan_poll(
        plan,
        src.now,
        first_pitches(src, plan.horizon_s + 86400.0),
        state.last_poll_at if state else None,
        state.quota_remaining if state else None,
        state.quota_used if state else None,
    )
    if decision.poll:
        return None, None, decision.next_at
    when = f" until {decision.next_at:%H:%M:%S} UTC" if decision.next_at else ""
    held = f"quota plan: paid requests held{when}, {decision.reason}"
    return frozenset(source.provides) - metered, held, decision.next_at


def _source_failed(src: Any, source: Any, error: Exception, retry_at: datetime | None) -> bool:
    """Record a source's failure: its state row, its breaker (True when this opened it)."""
    with src.sessions.begin() as session:
        state = _state(session, source.name)
        state.last_fetch_at = src.now
        state.last_error_type, state.last_error = type(error).__name__, str(error)[:2000]
        state.consecutive_failures = (state.consecutive_failures or 0) + 1
        state.retry_at = retry_at
    log.warning("source failed", extra={"source": source.name, "error_type": type(error).__name__})
    src.ctx.notify("source_failed", source.name, type(error).__name__)
    breakers = src.ctx.breakers
    return bool(breakers.record_failure(breaker_name(source.name))) if breakers else False


def _read_states(src: Any) -> dict[str, Any]:
    """Every source's state row as it is before this tick's fetches (read-only rows)."""
    with src.sessions() as session:
        return source_states(session, [s.name for s in src.ctx.sources])


def _fetch_source(src: Any, source: Any, kinds: frozenset[str] | None) -> Any:
    """Fetch with the context's retry policy (one attempt without one)."""
    policy = src.ctx.source_retry or SourceRetryPolicy(attempts=1)
    first = [True]

    def attempt(now: datetime) -> SourceBatch:
        at = src.now if first[0] else now  # the tick's time first, the clock's after a wait
        first[0] = False
        return _fetch_in_span(source, at, kinds)

    return fetch_with_retries(attempt, src.ctx.clock, src.ctx.sleep, policy)


def collect(src: Any) -> StageOutcome:
    """Fetch every source; a failing source is retried, counted on its own breaker and named,
    and the others are still collected."""
    per_source: dict[str, Any] = {}
    failed: dict[str, str] = {}
    deferred: dict[str, str] = {}
    records_in = records_out = 0
    states = _read_states(src)
    for source in _ordered(src.ctx.sources):
        state = states.get(source.name)
        blocked = _blocked(src, source, state)
        if blocked is not None:
            failed[source.name] = blocked
            continue
        kinds, held, next_poll = _planned_kinds(src, source, state)
        if held:
            deferred[source.name] = held
        attempts = _fetch_source(src, source, kinds)
        if attempts.error is not None:
            exc = attempts.error
            opened = _source_failed(src, source, exc, attempts.retry_at)
            tries = len(attempts.waits or []) + 1
            failed[source.name] = (
                f"{type(exc).__name__}: {exc}"
                + (f" ({tries} attempts)" if tries > 1 else "")
                + ("; circuit breaker opened" if opened else "")
            )
            continue
        batch = attempts.batch
        if src.ctx.breakers is not None and _has_failed(state):
            src.ctx.breakers.record_success(breaker_name(source.name))
        polled = kinds is None and getattr(source, "metered", None) and src.ctx.quota_plan
        with src.sessions.begin() as session:
            counts = store_batch(
                session,
                batch,
                src.run_id,
                src.now,
                src.ctx.seen_quotes,
                frozenset(getattr(source, "provides", ())),
                src.ctx.seen_games,
                src.ctx.seen_splits,
                poll=(next_poll,) if polled else None,
            )
        _remember(src.ctx.seen_quotes, batch)
        states[source.name] = counts.pop("state")
        changed = counts.pop("changed_quotes", [])
        if not counts["duplicate"]:
            _remember_splits(src.ctx.seen_splits, batch)
            if src.ctx.split_window is not None:  # a replay: its windows keep what it stored
                src.ctx.split_window.add(batch.source, batch.splits)
                src.ctx.history.add(batch.source, changed)
        if (games_mark := counts.pop("games_mark", None)) is not None:
            src.ctx.seen_games[source.name] = games_mark  # committed: skip them while the same
        _quota_alert(src, source.name)
        # A duplicate snapshot quarantines nothing new: its rows were counted the first time.
        rejected = {} if counts["duplicate"] else dict(Counter(r.reason for r in batch.rejected))
        src.ctx.notify(
            "source_collected",
            source.name,
            counts,
            counts["freshness_s"],
            (batch.quota or {}).get("remaining"),
            rejected,
        )
        per_source[source.name] = counts
        records_in += counts["quotes"] + counts["splits"] + counts["rejected"]
        records_out += counts["stored_quotes"] + (0 if counts["duplicate"] else counts["splits"])
    # A failed or blocked fetch changes no freshness time: the rows read before still tell it.
    src.source_states = states
    detail: dict[str, Any] = {"sources": per_source}
    if deferred:
        detail["deferred_sources"] = deferred
    if failed:
        detail["failed_sources"] = failed
    elif records_in == 0 and not _game_due(src):
        detail["market_closed"] = True  # nothing to bet on yet: not a freshness event
    if not per_source and failed:
        return StageOutcome(
            "failed",
            records_in,
            records_out,
            "AllSourcesFailed",
            "; ".join(f"{k}: {v}" for k, v in failed.items()),
            detail,
        )
    return StageOutcome(
        "partial" if failed else "succeeded",
        records_in,
        records_out,
        detail=detail,
        error_type="SourceError" if failed else None,
        error_message="; ".join(f"{k}: {v}" for k, v in failed.items()) or None,
    )


def _quota_alert(src: Any, source: str) -> None:
    """Raise (or resolve) the quota alert of a metered source from its samples."""
    plan, alerts = src.ctx.quota_plan, src.ctx.alerts
    if plan is None or alerts is None:
        return
    with src.sessions() as session:
        view = read_quota(session, plan, source, src.now)
    if view is None:
        return
    why = alert_reason(plan, view)
    key = f"quota:{source}"
    if why:
        alerts.raise_(key, f"Odds quota: {why}", why, severity="page", labels={"source": source})
    else:
        alerts.resolve(key)


def collect_scores(src: Any) -> dict[str, str]:
    """Fetch results-giving sources for games and scores only (grading run on its own); paid
    requests are left to the collection's quota plan."""
    failed: dict[str, str] = {}
    for source in _ordered(src.ctx.sources):
        provides = frozenset(getattr(source, "provides", ()))
        if "results" not in provides:
            continue
        metered: frozenset[str] = getattr(source, "metered", frozenset())
        kinds = None if not metered else provides - metered
        try:
            batch = _fetch_in_span(source, src.now, kinds)
        except SourceError as exc:
            failed[source.name] = f"{type(exc).__name__}: {exc}"
            continue
        with src.sessions.begin() as session:
            resolve_batch(session, batch, src.now)
            upsert_games(session, batch.games, src.now)
            _apply_scores(session, batch, src.now)
    return failed
