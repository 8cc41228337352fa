"""Game identity that survives restarts: odds events joined to the official schedule, in the DB.

The MLB schedule is the authority: its games are keyed `DATE-AWAY@HOME[-N]` from
`officialDate` and `gameNumber`, and carry `gamePk` (which a postponed game and its makeup on
another date share). An odds event (The Odds API has no game number) is linked to the schedule
game of the same teams whose first pitch is nearest its commence time; the link is kept in
`game_links`, so a process started after game 1 of a doubleheader left the odds feed keys the
nightcap from the database, not from what one payload happens to list. Without a schedule
the feed's own key is used, moved past any key already linked to another event, and matched
again on every fetch until the schedule confirms it. A link whose game was postponed or whose
commence time moved by more than a day is matched again (the makeup is another game).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.db import flushed_connection
from app.models import Game as GameRow
from app.models import GameLink
from app.pipelines.store import insert_ignoring_duplicates
from app.pipelines.types import Game, SourceBatch
from app.pipelines.validation import make_game_key, official_date

log = logging.getLogger("dugout.pipelines.identity")

MATCH_WINDOW = timedelta(hours=6)  # an event this far from every scheduled game matches none
RELINK_AFTER = timedelta(hours=20)  # a linked event whose start moved this far is another game
_CALLED_OFF = ("postponed", "cancelled")


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A schedule game an odds event may stand for."""

    key: str
    home: str
    away: str
    commence: datetime
    game_number: int
    tbd: bool
    status: str


def resolve_batch(session: Session, batch: SourceBatch, now: datetime) -> dict[str, str]:
    """Re-key the batch's odds events to schedule games (linking them in the DB); returns the
    old -> new keys that changed. Schedule games keep their keys (a resumed one takes the
    suspended game's)."""
    changes: dict[str, str] = {}
    schedule = [g for g in batch.games if g.schedule]
    changes.update(_resumed_keys(session, schedule))
    events = [g for g in batch.games if not g.schedule and g.source_ref]
    if events:
        changes.update(_event_keys(session, batch.source, events, schedule, now))
    changes = {old: new for old, new in changes.items() if old != new}
    if changes:
        _rekey(batch, changes)
    return changes


def _resumed_keys(session: Session, schedule: Sequence[Game]) -> dict[str, str]:
    """A schedule row resuming a suspended game is that game: same gamePk, the original key."""
    resumed = {int(g.source_ref): g for g in schedule if g.resumed and g.source_ref}
    if not resumed:
        return {}
    rows = session.execute(
        select(GameRow.mlb_game_pk, GameRow.game_key).where(
            GameRow.mlb_game_pk.in_(list(resumed)), GameRow.status == "suspended"
        )
    )
    return {resumed[pk].game_key: key for pk, key in rows if pk is not None}


def _event_keys(
    session: Session, source: str, events: Sequence[Game], schedule: Sequence[Game], now: datetime
) -> dict[str, str]:
    """old key -> key for each event, with the links written."""
    refs = [g.source_ref for g in events if g.source_ref]
    held = _held_keys(session, source, events, refs)
    if held is not None:
        return held  # every event's link holds (most fetches): one read, nothing loaded
    links: dict[str, GameLink] = {}
    called_off: set[str] = set()
    for found, status in session.execute(
        select(GameLink, GameRow.status)
        .outerjoin(GameRow, GameRow.game_key == GameLink.game_key)
        .where(GameLink.source == source, GameLink.ref.in_(refs))
    ):
        links[found.ref] = found
        if status in _CALLED_OFF:
            called_off.add(found.game_key)
    candidates = _candidates(session, events, schedule)
    taken = _taken_keys(session, source, _possible_keys(events, candidates), refs)
    changes: dict[str, str] = {}
    for event in sorted(events, key=lambda g: g.commence_time):
        ref = event.source_ref
        assert ref is not None
        link = links.get(ref)
        if _holds(link, event, called_off):
            assert link is not None
            key, confirmed = link.game_key, True
        else:
            match = _match(event, candidates, taken)
            if match is not None:
                key, confirmed = match.key, True
            elif link is not None and taken.get(link.game_key, ref) == ref:
                key, confirmed = link.game_key, False  # still no schedule: keep the same key
            else:
                key, confirmed = _fallback(event, taken), False
            if link is None or (link.game_key, link.confirmed) != (key, confirmed):
                _write_link(session, source, ref, key, confirmed, event, link, now)
        taken[key] = ref
        changes[event.game_key] = key
    return changes


# The links of a fetch's events with their games' status, built once (read at every fetch).
_HELD = (
    select(
        GameLink.ref,
        GameLink.game_key,
        GameLink.confirmed,
        GameLink.commence_time,
        GameRow.status,
    )
    .outerjoin(GameRow, GameRow.game_key == GameLink.game_key)
    .where(
        GameLink.source == bindparam("source"),
        GameLink.ref.in_(bindparam("refs", expanding=True)),
    )
)


def _held_keys(
    session: Session, source: str, events: Sequence[Game], refs: Sequence[str]
) -> dict[str, str] | None:
    """old key -> linked key when every event's link holds (see _holds), else None."""
    links: dict[str, Any] = {}
    called_off: set[str] = set()
    for row in flushed_connection(session).execute(_HELD, {"source": source, "refs": list(refs)}):
        links[row.ref] = row
        if row.status in _CALLED_OFF:
            called_off.add(row.game_key)
    if all(_holds(links.get(g.source_ref or ""), g, called_off) for g in events):
        return {g.game_key: links[g.source_ref or ""].game_key for g in events}
    return None


def _candidates(
    session: Session, events: Sequence[Game], schedule: Sequence[Game]
) -> list[_Candidate]:
    """Schedule games (stored, or in this batch) of the events' teams within a day of them."""
    lo = min(g.commence_time for g in events) - timedelta(days=1, hours=12)
    hi = max(g.commence_time for g in events) + timedelta(days=1, hours=12)
    pairs = {(g.home, g.away) for g in events}
    found: dict[str, _Candidate] = {}
    for row in session.execute(
        select(
            GameRow.game_key,
            GameRow.home,
            GameRow.away,
            GameRow.commence_time,
            GameRow.game_number,
            GameRow.start_time_source,
            GameRow.status,
        ).where(
            GameRow.mlb_game_pk.is_not(None),
            GameRow.commence_time >= lo,
            GameRow.commence_time <= hi,
        )
    ):
        if (row.home, row.away) in pairs:
            found[row.game_key] = _Candidate(
                row.game_key,
                row.home,
                row.away,
                row.commence_time,
                row.game_number,
                row.start_time_source == "tbd",
                row.status,
            )
    for g in schedule:
        if (g.home, g.away) in pairs and g.game_key not in found:
            found[g.game_key] = _Candidate(
                g.game_key, g.home, g.away, g.commence_time, g.game_number, g.start_tbd, ""
            )
    return list(found.values())


def _possible_keys(events: Sequence[Game], candidates: Iterable[_Candidate]) -> set[str]:
    """Every key these events could take: schedule candidates and each game number of a day."""
    keys = {c.key for c in candidates}
    for g in events:
        day = official_date(g.commence_time)
        keys.update(
            make_game_key(day, away=g.away, home=g.home, game_number=n) for n in range(1, 10)
        )
    return keys


def _taken_keys(
    session: Session, source: str, keys: set[str], refs: Sequence[str]
) -> dict[str, str]:
    """Keys already linked to OTHER events of this source, key -> event id."""
    if not keys:
        return {}
    rows = session.execute(
        select(GameLink.game_key, GameLink.ref).where(
            GameLink.source == source,
            GameLink.game_key.in_(sorted(keys)),
            GameLink.ref.not_in(refs),
        )
    )
    return {key: ref for key, ref in rows}


def _holds(link: Any, event: Game, called_off: set[str]) -> bool:
    """A confirmed link holds unless its game was called off or the event moved a day away."""
    return (
        link is not None
        and link.confirmed
        and link.game_key not in called_off
        and abs(event.commence_time - link.commence_time) < RELINK_AFTER
    )


def _match(
    event: Game, candidates: Sequence[_Candidate], taken: dict[str, str]
) -> _Candidate | None:
    """The schedule game this event stands for: same teams, not called off, not linked to
    another event; the nearest timed start within MATCH_WINDOW, else a start still to be
    decided on the same official date (lowest game number first)."""
    day = official_date(event.commence_time)
    free = [
        c
        for c in candidates
        if (c.home, c.away) == (event.home, event.away)
        and c.status not in _CALLED_OFF
        and taken.get(c.key, event.source_ref) == event.source_ref
    ]
    timed = [c for c in free if not c.tbd and abs(c.commence - event.commence_time) <= MATCH_WINDOW]
    if timed:
        return min(timed, key=lambda c: abs(c.commence - event.commence_time))
    tbd = [c for c in free if c.tbd and official_date(c.commence) == day]
    return min(tbd, key=lambda c: c.game_number) if tbd else None


def _fallback(event: Game, taken: dict[str, str]) -> str:
    """The feed's own key, moved to the next game number while another event holds it."""
    key, number = event.game_key, event.game_number
    day = official_date(event.commence_time)
    while taken.get(key, event.source_ref) != event.source_ref:
        number += 1
        key = make_game_key(day, away=event.away, home=event.home, game_number=number)
    return key


def _write_link(
    session: Session,
    source: str,
    ref: str,
    key: str,
    confirmed: bool,
    event: Game,
    link: GameLink | None,
    now: datetime,
) -> None:
    """Insert or update the event's link; a changed key is logged with both values."""
    if link is None:
        insert_ignoring_duplicates(
            session,
            GameLink,
            [
                {
                    "source": source,
                    "ref": ref,
                    "game_key": key,
                    "confirmed": confirmed,
                    "commence_time": event.commence_time,
                    "linked_at": now,
                }
            ],
        )
        return
    if link.game_key != key:
        log.warning(
            "odds event re-keyed",
            extra={"source": source, "event_id": ref, "was": link.game_key, "now": key},
        )
    link.game_key, link.confirmed = key, confirmed
    link.commence_time, link.linked_at = event.commence_time, now


def _rekey(batch: SourceBatch, changes: dict[str, str]) -> None:
    """Apply old -> new keys to every row of the batch (rows whose key is unchanged stay)."""
    batch.games = [
        replace(g, game_key=changes[g.game_key]) if g.game_key in changes else g
        for g in batch.games
    ]
    batch.quotes = [
        replace(q, game_key=changes[q.game_key]) if q.game_key in changes else q
        for q in batch.quotes
    ]
    batch.scores = [
        replace(s, game_key=changes[s.game_key]) if s.game_key in changes else s
        for s in batch.scores
    ]
    batch.splits = [
        replace(s, game_key=changes[s.game_key]) if s.game_key in changes else s
        for s in batch.splits
    ]
