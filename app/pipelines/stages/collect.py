"""collect: every source -> validated quotes and splits, quarantine, snapshots, freshness."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Game as GameRow
from app.models import QuarantinedRow, QuoteRow, SourceSnapshot, SourceState, SplitRow
from app.pipelines.context import MARKET_OPEN_BEFORE_S, StageOutcome
from app.pipelines.store import (
    insert_ignoring_duplicates,
    json_safe,
    quote_rows,
    split_rows,
    upsert_games,
)
from app.pipelines.types import SourceBatch

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
        if (row.status, row.home_score, row.away_score) != (
            score.status,
            score.home_score,
            score.away_score,
        ) and row.status not in {"final", "cancelled"}:
            row.status, row.home_score, row.away_score = (
                score.status,
                score.home_score,
                score.away_score,
            )
            row.updated_at = now
            changed += 1
    return changed


def store_batch(
    session: Session,
    batch: SourceBatch,
    run_id: uuid.UUID,
    now: datetime,
    seen: dict[tuple[str, str, str, str, str], datetime],
) -> dict[str, Any]:
    """Store one source's batch idempotently; returns counts for the stage record."""
    content_hash = batch_hash(batch)
    newest = max((q.last_update for q in batch.quotes), default=None)
    newest_split = max((s.as_of for s in batch.splits), default=None)
    if newest_split and (newest is None or newest_split > newest):
        newest = newest_split
    state = _state(session, batch.source)
    state.last_fetch_at = state.last_success_at = now
    state.last_error_type = state.last_error = None
    if batch.quota:
        state.quota_remaining = batch.quota.get("remaining")
        state.quota_used = batch.quota.get("used")
    if newest and (state.newest_update_at is None or newest > state.newest_update_at):
        state.newest_update_at = newest  # out-of-order snapshots never move "latest" back
    duplicate = session.scalar(
        select(SourceSnapshot.id).where(
            SourceSnapshot.source == batch.source, SourceSnapshot.content_hash == content_hash
        )
    )
    counts = {
        "quotes": len(batch.quotes),
        "splits": len(batch.splits),
        "rejected": len(batch.rejected),
        "stored_quotes": 0,
        "duplicate": bool(duplicate),
        "freshness_s": (
            None
            if state.newest_update_at is None
            else round((now - state.newest_update_at).total_seconds(), 3)
        ),
    }
    if duplicate:
        return counts
    snapshot = SourceSnapshot(
        id=uuid.uuid4(),
        source=batch.source,
        content_hash=content_hash,
        fetched_at=now,
        newest_update_at=newest,
        quotes=len(batch.quotes),
        splits=len(batch.splits),
        quarantined=len(batch.rejected),
        run_id=run_id,
    )
    session.add(snapshot)
    upsert_games(session, batch.games, now)
    changed = []
    for q in batch.quotes:
        key = (batch.source, q.game_key, q.market, q.side, q.book)
        last = seen.get(key)
        if last is None or q.last_update > last:
            changed.append(q)
    insert_ignoring_duplicates(
        session, QuoteRow, quote_rows(batch.source, snapshot.id, changed, now)
    )
    insert_ignoring_duplicates(
        session, SplitRow, split_rows(batch.source, snapshot.id, batch.splits)
    )
    if batch.rejected:
        session.add_all(
            QuarantinedRow(
                source=r.source,
                field=r.field[:64],
                reason=r.reason[:255],
                payload=json_safe(r.payload),
                snapshot_id=snapshot.id,
                run_id=run_id,
                created_at=now,
            )
            for r in batch.rejected
        )
    counts["scores_changed"] = _apply_scores(session, batch, now)
    counts["stored_quotes"] = len(changed)
    return counts


def _remember(seen: dict[tuple[str, str, str, str, str], datetime], batch: SourceBatch) -> None:
    for q in batch.quotes:
        key = (batch.source, q.game_key, q.market, q.side, q.book)
        if key not in seen or q.last_update > seen[key]:
            seen[key] = q.last_update


_TRACER = trace.get_tracer("dugout.pipelines")


def _fetch_in_span(source: Any, now: datetime) -> SourceBatch:
    """One source request as a child span of the stage: its counts, or its typed error."""
    with _TRACER.start_as_current_span(
        f"source {source.name}", record_exception=False, set_status_on_exception=False
    ) as span:
        span.set_attribute("dugout.source", source.name)
        try:
            batch: SourceBatch = source.fetch(now)
        except Exception as exc:
            span.set_attribute("dugout.error_type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
            raise
        span.set_attribute("dugout.quotes", len(batch.quotes))
        span.set_attribute("dugout.rejected", len(batch.rejected))
        return batch


def _game_due(src: Any) -> bool:
    """Whether a scheduled game starts within MARKET_OPEN_BEFORE_S of this tick."""
    soon = src.now + timedelta(seconds=MARKET_OPEN_BEFORE_S)
    with src.sessions() as session:
        due = session.scalar(
            select(GameRow.game_key)
            .where(
                GameRow.status == "scheduled",
                GameRow.commence_time > src.now,
                GameRow.commence_time <= soon,
            )
            .limit(1)
        )
    return due is not None


def collect(src: Any) -> StageOutcome:
    """Fetch every source; a failing source is named and the others are still collected."""
    from app.pipelines.sources.base import SourceError

    per_source: dict[str, Any] = {}
    failed: dict[str, str] = {}
    records_in = records_out = 0
    for source in src.ctx.sources:
        try:
            batch = _fetch_in_span(source, src.now)
        except SourceError as exc:
            failed[source.name] = f"{type(exc).__name__}: {exc}"
            with src.sessions.begin() as session:
                state = _state(session, source.name)
                state.last_fetch_at = src.now
                state.last_error_type, state.last_error = type(exc).__name__, str(exc)[:2000]
            log.warning(
                "source failed", extra={"source": source.name, "error_type": type(exc).__name__}
            )
            src.ctx.notify("source_failed", source.name, type(exc).__name__)
            continue
        with src.sessions.begin() as session:
            counts = store_batch(session, batch, src.run_id, src.now, src.ctx.seen_quotes)
        _remember(src.ctx.seen_quotes, batch)
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
    detail: dict[str, Any] = {"sources": per_source}
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


def collect_scores(src: Any) -> dict[str, str]:
    """Fetch every source for games and scores only (the grading pipeline run on its own)."""
    from app.pipelines.sources.base import SourceError

    failed: dict[str, str] = {}
    for source in src.ctx.sources:
        try:
            batch = source.fetch(src.now)
        except SourceError as exc:
            failed[source.name] = f"{type(exc).__name__}: {exc}"
            continue
        with src.sessions.begin() as session:
            upsert_games(session, batch.games, src.now)
            _apply_scores(session, batch, src.now)
    return failed
