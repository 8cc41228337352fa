"""Bulk writes and reads of market data that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from app.db import Base, flushed_connection
from app.models import Game as GameRow
from app.models import QuoteRow, SourceState, SplitRow
from app.pipelines.history import SPLIT_COLUMNS, QuoteHistory, SplitWindow
from app.pipelines.types import Game, MarketState, Quote, Split

log = logging.getLogger("dugout.pipelines.store")


# INSERT ... ON CONFLICT DO NOTHING per (dialect name, model), built once.
_INSERTS: dict[tuple[str, type[Base]], Any] = {}


def insert_ignoring_duplicates(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """INSERT many rows; rows that hit a unique key are skipped (ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    name = session.get_bind().dialect.name
    statement = _INSERTS.get((name, model))
    if statement is None:
        dialect = postgresql if name == "postgresql" else sqlite
        statement = _INSERTS[(name, model)] = dialect.insert(
            model.__table__
        ).on_conflict_do_nothing()
    # A Core insert on the table: one executemany for all rows (the ORM's bulk path splits
    # them into one statement per run of rows with the same NULL columns). Pending ORM rows
    # they point at (a snapshot) are flushed first, as the ORM path's autoflush did.
    flushed_connection(session).execute(statement, list(rows))


# Every column of the named sources' state rows, built once: collect reads them every tick.
_STATES = select(*SourceState.__table__.c).where(
    SourceState.source.in_(bindparam("names", expanding=True))
)


def source_states(session: Session, names: Sequence[str]) -> dict[str, Row[Any]]:
    """The state rows of `names` by source, as plain rows (read-only: attributes as on
    SourceState, nothing for the session to track)."""
    rows = flushed_connection(session).execute(_STATES, {"names": list(names)})
    return {row.source: row for row in rows}


def json_safe(payload: Any) -> Any:
    """A JSON-serialisable copy of `payload` (datetimes and other objects become strings)."""
    return json.loads(json.dumps(payload, default=str))


def upsert_games(session: Session, games: Iterable[Game], now: datetime) -> int:
    """Insert unknown games, refresh known ones; returns how many were new.

    Start times: an odds feed's commence time wins (it is what books close on); a schedule's
    is used only when it is not a placeholder (MLB startTimeTBD) and no odds feed gave one.
    A schedule time that disagrees with the odds feed's is logged with both values."""
    grouped: dict[str, list[Game]] = defaultdict(list)
    for game in games:
        grouped[game.game_key].append(game)
    if not grouped:
        return 0
    existing = {
        row.game_key: row
        for row in session.scalars(select(GameRow).where(GameRow.game_key.in_(list(grouped))))
    }
    new = 0
    for key, group in grouped.items():
        odds = next((g for g in group if not g.schedule), None)
        official = next((g for g in group if g.schedule), None)
        row = existing.get(key)
        if row is None:
            first = odds or official
            assert first is not None
            row = GameRow(
                game_key=key,
                home=first.home,
                away=first.away,
                commence_time=first.commence_time,
                source_ref=first.source_ref,
                start_time_source=_time_source(first),
                updated_at=now,
            )
            session.add(row)
            new += 1
        if official is not None:
            row.mlb_game_pk = int(official.source_ref) if official.source_ref else None
            row.game_number = official.game_number
        _settle_start_time(row, odds, official, now)
    session.flush()
    return new


def _time_source(game: Game) -> str:
    """Where a game's start time came from: odds, schedule, or tbd (a placeholder)."""
    if not game.schedule:
        return "odds"
    return "tbd" if game.start_tbd else "schedule"


def _settle_start_time(
    row: GameRow, odds: Game | None, official: Game | None, now: datetime
) -> None:
    """Apply the start-time rule (see upsert_games) to a stored game not yet under way; a row
    changed after `now` (a replay of the past) already knows better."""
    if row.status != "scheduled" or (row.updated_at is not None and row.updated_at > now):
        return
    odds_time = odds.commence_time if odds else None
    schedule_time = None
    if official is not None and not official.start_tbd:
        schedule_time = official.commence_time
    if odds_time is None and row.start_time_source == "odds":
        odds_time = row.commence_time
    if schedule_time is None and odds is not None and row.start_time_source == "schedule":
        schedule_time = row.commence_time
    if odds_time is not None and schedule_time is not None and odds_time != schedule_time:
        log.info(
            "start times disagree: The Odds API wins",
            extra={
                "game_key": row.game_key,
                "odds_commence_time": odds_time.isoformat(),
                "schedule_commence_time": schedule_time.isoformat(),
            },
        )
    chosen = odds or official
    if chosen is None or (chosen.schedule and chosen.start_tbd):
        return  # a placeholder never moves a start time
    if chosen.schedule and row.start_time_source == "odds":
        return
    source = _time_source(chosen)
    if (row.commence_time, row.start_time_source) != (chosen.commence_time, source):
        row.commence_time, row.start_time_source, row.updated_at = (
            chosen.commence_time,
            source,
            now,
        )


# Games not started at :now within the horizon (:until), as of :now; built once. Its columns
# are the first fields of a Game, in order (see _game_of).
_UPCOMING = select(
    GameRow.game_key,
    GameRow.home,
    GameRow.away,
    GameRow.commence_time,
    GameRow.source_ref,
).where(
    GameRow.commence_time > bindparam("now"),
    GameRow.commence_time <= bindparam("until"),
    or_(GameRow.status == "scheduled", GameRow.updated_at > bindparam("now")),
)


# One Game per stored row's values (game_key, home, away, commence_time, source_ref): each tick
# hands out the same object for an unchanged row, which the analysis memo compares by identity
# first. Games are frozen; a process sees a few thousand rows a year (a full cache starts over).
_GAMES: dict[tuple[Any, ...], Game] = {}
_GAMES_KEPT = 4096


def _game_of(values: tuple[Any, ...]) -> Game:
    game = _GAMES.get(values)
    if game is None:
        if len(_GAMES) >= _GAMES_KEPT:
            _GAMES.clear()
        game = _GAMES[values] = Game(*values)
    return game


def load_market_state(
    session: Session,
    now: datetime,
    lookback_s: float,
    horizon_s: float,
    sources: Sequence[str],
    sharp_books: frozenset[str],
    history: QuoteHistory | None = None,
    splits_window: SplitWindow | None = None,
) -> MarketState:
    """Games not yet started at `now` (within the horizon) with their quote and split history.

    A game is judged as of `now`: one scheduled then whose row changed later (started, final
    or called off after `now`, seen when the past is replayed beside a live server) counts.
    With `history`, quotes come from that incremental in-memory window instead of a full read;
    with `splits_window` (a replay's), splits come from what the replay stored.
    """
    from datetime import timedelta

    games = {
        r.game_key: _game_of(tuple(r))
        for r in flushed_connection(session).execute(
            _UPCOMING, {"now": now, "until": now + timedelta(seconds=horizon_s)}
        )
    }
    since = now - timedelta(seconds=lookback_s)
    if not games or not sources:
        return MarketState(games=games, history=[], splits=[], sharp_books=sharp_books)
    if history is not None:
        window = history.window(session, now, timedelta(seconds=lookback_s), sources)
        quotes = [q for q in window if q.game_key in games]
    else:
        quotes = [
            Quote(*r)
            for r in session.execute(
                select(
                    QuoteRow.game_key,
                    QuoteRow.market,
                    QuoteRow.side,
                    QuoteRow.book,
                    QuoteRow.price,
                    QuoteRow.point,
                    QuoteRow.last_update,
                )
                .where(
                    QuoteRow.last_update >= since,
                    QuoteRow.last_update <= now,
                    QuoteRow.source.in_(list(sources)),
                    QuoteRow.game_key.in_(list(games)),
                )
                .order_by(QuoteRow.last_update)
            )
        ]
    if splits_window is not None:
        splits = splits_window.window(
            session, now, timedelta(seconds=lookback_s), sources, games.keys()
        )
        return MarketState(games=games, history=quotes, splits=splits, sharp_books=sharp_books)
    split_rows = session.execute(
        select(*SPLIT_COLUMNS)
        .where(
            SplitRow.as_of >= since,
            SplitRow.as_of <= now,
            SplitRow.source.in_(list(sources)),
            SplitRow.game_key.in_(list(games)),
        )
        .order_by(SplitRow.as_of)
    )
    splits = [Split(*r) for r in split_rows]
    return MarketState(games=games, history=quotes, splits=splits, sharp_books=sharp_books)


def quote_rows(
    source: str, snapshot_id: Any, quotes: Iterable[Quote], now: datetime
) -> list[dict[str, Any]]:
    """Quote dataclasses as insert parameter rows."""
    import uuid

    return [
        {
            "id": uuid.uuid4(),
            "snapshot_id": snapshot_id,
            "source": source,
            "game_key": q.game_key,
            "market": q.market,
            "side": q.side,
            "book": q.book,
            "price": q.price,
            "point": q.point,
            "last_update": q.last_update,
            "collected_at": now,
        }
        for q in quotes
    ]


def split_rows(source: str, snapshot_id: Any, splits: Iterable[Split]) -> list[dict[str, Any]]:
    """Split dataclasses as insert parameter rows."""
    import uuid

    return [
        {
            "id": uuid.uuid4(),
            "snapshot_id": snapshot_id,
            "source": source,
            "game_key": s.game_key,
            "market": s.market,
            "side": s.side,
            "tickets_pct": s.tickets_pct,
            "money_pct": s.money_pct,
            "tickets": s.tickets,
            "as_of": s.as_of,
        }
        for s in splits
    ]
