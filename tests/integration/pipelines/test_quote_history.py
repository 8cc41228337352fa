"""The in-memory quote window between ticks: what a tick reads is what the database holds for
its sources and hours, oldest first, whether rows arrive in order or late (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from app.models import QuoteRow
from app.pipelines.history import QuoteHistory, ReplayQuoteHistory
from app.pipelines.types import Quote

T0 = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)
LOOKBACK = timedelta(minutes=30)


def _store(db, source: str, book: str, minutes: list[int], collected: int) -> None:
    with db.session() as s:
        s.execute(
            insert(QuoteRow),
            [
                {
                    "source": source,
                    "game_key": "g1",
                    "market": "h2h",
                    "side": "home",
                    "book": book,
                    "price": -110 - m,
                    "point": None,
                    "last_update": T0 + timedelta(minutes=m),
                    "collected_at": T0 + timedelta(minutes=collected),
                }
                for m in minutes
            ],
        )
        s.commit()


def _expected(db, now: datetime, sources: set[str]) -> list[tuple[str, int, datetime]]:
    with db.session() as s:
        rows = s.execute(
            select(QuoteRow.book, QuoteRow.price, QuoteRow.last_update).where(
                QuoteRow.last_update >= now - LOOKBACK,
                QuoteRow.last_update <= now,
                QuoteRow.source.in_(sources),
            )
        ).all()
    return sorted((b, p, _utc(t)) for b, p, t in rows)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _seen(quotes: list[Quote]) -> list[tuple[str, int, datetime]]:
    assert [q.last_update for q in quotes] == sorted(q.last_update for q in quotes)  # in order
    return sorted((q.book, q.price, q.last_update) for q in quotes)


def test_the_window_holds_each_source_apart_and_takes_late_rows_in_order(db) -> None:
    history = QuoteHistory()
    _store(db, "demo", "fanduel", [1, 2, 3], collected=3)
    _store(db, "odds_api", "pinnacle", [2, 4], collected=4)
    now = T0 + timedelta(minutes=5)
    with db.session() as s:
        both = history.window(s, now, LOOKBACK, ["demo", "odds_api"])
        demo = history.window(s, now, LOOKBACK, ["demo"])
    assert _seen(both) == _expected(db, now, {"demo", "odds_api"})
    assert len(both) == 5
    assert _seen(demo) == _expected(db, now, {"demo"})
    assert {q.book for q in demo} == {"fanduel"}

    # rows collected late with older timestamps go in their place, and a later tick drops
    # what its lookback left behind
    _store(db, "demo", "draftkings", [0, 6], collected=7)
    _store(db, "demo", "fanduel", [35], collected=35)
    now = T0 + timedelta(minutes=35)
    with db.session() as s:
        both = history.window(s, now, LOOKBACK, ["demo", "odds_api"])
        demo = history.window(s, now, LOOKBACK, ["demo"])
    assert _seen(both) == _expected(db, now, {"demo", "odds_api"})
    assert min(q.last_update for q in both) >= now - LOOKBACK
    assert _seen(demo) == _expected(db, now, {"demo"})


def test_a_replay_window_keeps_what_its_writer_hands_it(db) -> None:
    history = ReplayQuoteHistory()
    now = T0 + timedelta(minutes=10)
    with db.session() as s:
        assert history.window(s, now, LOOKBACK, ["demo"]) == []
        newer = [
            Quote("g1", "h2h", "home", "fanduel", -120, None, T0 + timedelta(minutes=m))
            for m in (5, 9)
        ]
        history.add("demo", newer)
        older = Quote("g1", "h2h", "away", "fanduel", 100, None, T0 + timedelta(minutes=2))
        history.add("demo", [older, newer[0]])  # a version held already is skipped
        window = history.window(s, now, LOOKBACK, ["demo"])
        assert window == [older, *newer]
        assert history.window(s, now, LOOKBACK, ["other"]) == []
        assert history.window(s, T0 + timedelta(minutes=8), LOOKBACK, ["demo"]) == [
            older,
            newer[0],
        ]
