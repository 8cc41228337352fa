"""analyze: strategies over the latest fresh market state and its history -> opportunities."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.models import OpportunityRow
from app.pipelines.analysis_memo import MarketIndexes
from app.pipelines.context import StageOutcome
from app.pipelines.market import MarketIndex
from app.pipelines.store import insert_ignoring_duplicates, load_market_state, source_states
from app.pipelines.types import MarketState, Opportunity

log = logging.getLogger("dugout.pipelines.analyze")


def fingerprint(opp: Opportunity) -> str:
    """Same strategy, bet, price and triggering data: the same opportunity."""
    key = "|".join(
        str(v)
        for v in (
            opp.strategy,
            opp.game_key,
            opp.market,
            opp.side,
            opp.book,
            opp.price,
            opp.point,
            opp.data_available_at.isoformat(),
        )
    )
    return hashlib.sha256(key.encode()).hexdigest()


def opportunity_row(opp: Opportunity, run_id: uuid.UUID) -> dict[str, Any]:
    """An opportunity as an insert parameter row, with its detection latency."""
    latency = (opp.detected_at - opp.data_available_at).total_seconds() * 1000
    return {
        "id": uuid.uuid4(),
        "run_id": run_id,
        "strategy": opp.strategy,
        "game_key": opp.game_key,
        "market": opp.market,
        "side": opp.side,
        "book": opp.book,
        "price": opp.price,
        "point": opp.point,
        "fair_prob": opp.fair_prob,
        "ev": opp.ev,
        "kelly_fraction": opp.kelly_fraction,
        "data_available_at": opp.data_available_at,
        "detected_at": opp.detected_at,
        "latency_ms": max(0.0, latency),
        "explanation": opp.explanation[:2000],
        "fingerprint": fingerprint(opp),
    }


# What was flagged from :since up to :until (before this run) on :games, oldest first.
_FLAGGED = (
    select(
        OpportunityRow.strategy,
        OpportunityRow.game_key,
        OpportunityRow.market,
        OpportunityRow.side,
        OpportunityRow.book,
    )
    .where(
        OpportunityRow.detected_at >= bindparam("since"),
        OpportunityRow.detected_at <= bindparam("until"),
        OpportunityRow.game_key.in_(bindparam("games", expanding=True)),
    )
    .order_by(OpportunityRow.detected_at)
)
# The stored fingerprints among :fingerprints.
_KNOWN = select(OpportunityRow.fingerprint).where(
    OpportunityRow.fingerprint.in_(bindparam("fingerprints", expanding=True))
)


def date_repicks(
    session: Session,
    rows: list[dict[str, Any]],
    index: MarketIndex | MarketIndexes,
    since: datetime,
) -> None:
    """Date re-picks by the change that made them.

    A new row on a side its strategy already flagged since `since` (the history strategies see)
    at another book is a re-pick: the book flagged before moved away, so another became the
    best. Its data became available with that move, so it is dated by the previous book's
    newest quote on the side when that is newer than its own inputs (other books' updates are
    not its cause and are ignored). The fingerprint keeps the inputs' date, so the same pick at
    the next tick is still recognised."""
    if not rows:
        return
    previous: dict[tuple[str, str, str, str], str] = {}
    for strategy, game_key, market, side, book in session.execute(
        _FLAGGED,
        {
            "since": since,
            "until": rows[0]["detected_at"],
            "games": list({r["game_key"] for r in rows}),
        },
    ):
        previous[(strategy, game_key, market, side)] = book  # the latest flagged book wins
    for row in rows:
        before = previous.get((row["strategy"], row["game_key"], row["market"], row["side"]))
        if before is None or before == row["book"]:
            continue
        quotes = index.quotes_for_side(row["game_key"], row["market"], row["side"])
        newest = max((q.last_update for q in quotes if q.book == before), default=None)
        if newest is not None and newest > row["data_available_at"]:
            row["data_available_at"] = newest
            row["latency_ms"] = max(0.0, (row["detected_at"] - newest).total_seconds() * 1000)


def fresh_sources(src: Any) -> tuple[list[str], dict[str, str]]:
    """Sources whose quotes or splits are recent enough to act on, and why the others are not.

    Judged per kind: quotes are stale after `stale_after_s` (plus the quota plan's interval for
    a metered feed, which is not polled every tick), splits after `splits_stale_after_s`. A
    source giving only schedule or results is never judged here, so it never makes analysis
    `partial`."""
    fresh, stale = [], {}
    for name, kind, state, limit_s in _judged(src):
        newest = None
        if state is not None:
            newest = state.newest_quote_at if kind == "quotes" else state.newest_split_at
            if newest is None and state.newest_quote_at is None and state.newest_split_at is None:
                newest = state.newest_update_at  # rows written before per-kind freshness
        if newest is None:
            stale[name] = "no data collected yet"
        elif newest < src.now - timedelta(seconds=limit_s):
            age = int((src.now - newest).total_seconds())
            stale[name] = f"newest {'data' if kind == 'quotes' else kind} is {age} s old"
        elif name not in fresh:
            fresh.append(name)
    return fresh, stale


def _judged(src: Any) -> list[tuple[str, str, Any, float]]:
    """(source, kind, state, stale limit) for every quotes or splits kind a source provides."""
    states = src.source_states  # as this run's collect left them
    if states is None:
        with src.sessions() as session:
            states = source_states(session, [s.name for s in src.ctx.sources])
    settings = src.ctx.settings
    out = []
    for source in src.ctx.sources:
        provides = getattr(source, "provides", {"quotes", "splits"})
        state = states.get(source.name)
        if "quotes" in provides:
            limit = settings.stale_after_s
            if state is not None and state.last_poll_at and state.next_poll_at:
                limit += max(0.0, (state.next_poll_at - state.last_poll_at).total_seconds())
            out.append((source.name, "quotes", state, limit))
        elif "splits" in provides:
            out.append((source.name, "splits", state, settings.splits_stale_after_s))
    return out


def _detect(
    ctx: Any, state: MarketState, now: datetime
) -> tuple[list[Opportunity], MarketIndex | MarketIndexes]:
    """Every strategy's opportunities in turn, and the index they were found in; with the
    context's analysis memo, markets unchanged since the previous tick keep their result."""
    memo = ctx.analysis_memo
    if memo is not None and memo.applies(ctx.strategies):
        return memo.detect(ctx.strategies, state, now)
    index = MarketIndex.build(state, now)  # one pass, shared by every strategy
    found: list[Opportunity] = []
    for strategy in ctx.strategies:
        found.extend(strategy.detect(state, now, index))
    return found, index


def analyze(src: Any) -> StageOutcome:
    """Run every strategy on fresh data; store new opportunities once."""
    fresh, stale = fresh_sources(src)
    detail: dict[str, Any] = {}
    if stale:
        detail["stale_sources"] = stale
    if not fresh:
        detail["reason"] = "no fresh source: " + "; ".join(f"{k}: {v}" for k, v in stale.items())
        return StageOutcome("skipped", detail=detail)
    sharp = frozenset().union(*(getattr(s, "sharp_books", frozenset()) for s in src.ctx.sources))
    settings = src.ctx.settings
    with src.sessions() as session:
        state = load_market_state(
            session,
            src.now,
            settings.lookback_s,
            settings.horizon_s,
            fresh,
            sharp,
            src.ctx.history,
            src.ctx.split_window,
        )
    found, index = _detect(src.ctx, state, src.now)
    # Strategies judge the market as of the run's `now`; the opportunity was known only now.
    detected_at = max(src.ctx.clock(), src.now)
    rows = [opportunity_row(replace(o, detected_at=detected_at), src.run_id) for o in found]
    memo = src.ctx.analysis_memo  # a replay's: it knows what it stored itself
    stored: set[str] | None = memo.stored if memo is not None else None
    unknown = rows if stored is None else [r for r in rows if r["fingerprint"] not in stored]
    with src.sessions.begin() as session:
        known = (
            set(session.scalars(_KNOWN, {"fingerprints": [r["fingerprint"] for r in unknown]}))
            if unknown
            else set()
        )
        new_rows = [r for r in unknown if r["fingerprint"] not in known]
        date_repicks(session, new_rows, index, src.now - timedelta(seconds=settings.lookback_s))
        insert_ignoring_duplicates(session, OpportunityRow, new_rows)
    if stored is not None:
        stored.update(r["fingerprint"] for r in unknown)  # stored now, by whichever writer
    src.ctx.notify("opportunities_found", new_rows)
    detail["opportunities"] = len(new_rows)
    detail["by_strategy"] = dict(Counter(r["strategy"] for r in new_rows))
    detail["games"] = len(state.games)
    return StageOutcome(
        "partial" if stale else "succeeded", len(state.history), len(new_rows), detail=detail
    )
