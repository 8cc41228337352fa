"""The demo market: deterministic, never ahead of `now`, and seeded with checkable events."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.pipelines.sources.demo import DemoSource
from app.pipelines.sources.demo_events import DemoEvent
from app.pipelines.sources.mlb_format import parse_mlb_schedule
from app.pipelines.sources.odds_api_format import parse_odds
from app.pipelines.types import Rejected, SourceBatch
from app.pipelines.validation import parse_splits

DAY = date(2025, 7, 12)
MIDNIGHT = datetime(2025, 7, 12, tzinfo=UTC)
OTHER_SIDE = {"home": "away", "away": "home", "over": "under", "under": "over"}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo() -> DemoSource:
    """Seed 42 on a fixed day (fetch is pure, so one instance serves every test)."""
    return DemoSource(seed=42, day=DAY)


def at(hours: float) -> datetime:
    """A moment on the demo day, hours after 00:00 UTC."""
    return MIDNIGHT + timedelta(hours=hours)


def events(demo: DemoSource, kind: str) -> list[DemoEvent]:
    """The planned events of one kind."""
    return [e for e in demo.events if e.kind == kind]


def side_of(event: DemoEvent) -> str:
    """The side an event is about (every event but a postponement has one)."""
    assert event.side is not None
    return event.side


def book_of(event: DemoEvent) -> str:
    """The book an event is about (steam laggers, arbitrage, bad rows)."""
    assert event.book is not None
    return event.book


def cents(price: int) -> int:
    """American price on a line where -100 and +100 meet, so moves can be subtracted."""
    return price - 100 if price >= 100 else price + 100


def decimal(price: int) -> float:
    """Decimal odds of an American price."""
    return 1 + price / 100 if price > 0 else 1 + 100 / -price


def prices(batch: SourceBatch, game_key: str, market: str, side: str) -> dict[str, int]:
    """book -> price for one side of one market."""
    return {
        q.book: q.price
        for q in batch.quotes
        if q.game_key == game_key and q.market == market and q.side == side
    }


def sharp_fair(batch: SourceBatch, game_key: str, market: str, side: str) -> float:
    """Devigged (multiplicative) probability of `side`, averaged over the sharp books."""
    mine, theirs = (
        prices(batch, game_key, market, side),
        prices(batch, game_key, market, OTHER_SIDE[side]),
    )
    fair = []
    for book in ("pinnacle", "circa"):
        p, q = 1 / decimal(mine[book]), 1 / decimal(theirs[book])
        fair.append(p / (p + q))
    return statistics.fmean(fair)


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_same_output_different_seed_different() -> None:
    first, again, other = DemoSource(42, DAY), DemoSource(42, DAY), DemoSource(43, DAY)
    for hours in (9.5, 14, 18.25, 30):
        a, b, c = first.fetch(at(hours)), again.fetch(at(hours)), other.fetch(at(hours))
        assert (a.games, a.quotes, a.splits, a.scores, a.rejected, a.raw_hash) == (
            b.games,
            b.quotes,
            b.splits,
            b.scores,
            b.rejected,
            b.raw_hash,
        )
        assert a.raw_hash != c.raw_hash
    assert [g.game_key for g in first.games] != [g.game_key for g in other.games]


def test_same_output_in_another_process() -> None:
    code = (
        "from datetime import date, datetime, UTC;"
        "from app.pipelines.sources.demo import DemoSource;"
        "b = DemoSource(42, date(2025, 7, 12)).fetch(datetime(2025, 7, 12, 16, tzinfo=UTC));"
        "print(b.raw_hash, sum(q.price for q in b.quotes), len(b.splits))"
    )
    here = DemoSource(42, DAY).fetch(at(16))
    expected = f"{here.raw_hash} {sum(q.price for q in here.quotes)} {len(here.splits)}"
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected


def test_fetch_is_pure_whatever_was_fetched_before(demo: DemoSource) -> None:
    for hours in (20, 12, 16.5, 12):  # backwards and forwards through the memo
        fresh = DemoSource(42, DAY).fetch(at(hours))
        used = demo.fetch(at(hours))
        assert (used.quotes, used.splits, used.scores, used.rejected) == (
            fresh.quotes,
            fresh.splits,
            fresh.scores,
            fresh.rejected,
        )


def test_fetch_equals_parsing_the_whole_payloads(demo: DemoSource) -> None:
    known = {g.event_id: g.game_key for g in demo.games}
    for hours in (11, 15.2, 17.9, 23.5):
        now = at(hours)
        batch = demo.fetch(now)
        odds = parse_odds(demo.odds_payload(now), source="demo", now=now, known_keys=known)
        splits = parse_splits(demo.splits_payload(now), source="demo", now=now)
        schedule = parse_mlb_schedule(demo.schedule_payload(now), source="demo")
        assert batch.quotes == odds.quotes
        assert batch.splits == splits.splits
        assert batch.scores == schedule.scores
        assert batch.rejected == odds.rejected + splits.rejected + schedule.rejected


def test_a_fetch_every_minute_equals_the_whole_payloads(demo: DemoSource) -> None:
    """A game's rows handed out again while none of its books moved are what parsing the
    whole payloads gives, and the content hash is the one a source with another fetch
    history computes."""
    other = DemoSource(42, DAY)
    known = {g.event_id: g.game_key for g in demo.games}
    for minute in range(0, 180):  # three hours across the first pitches
        now = at(16) + timedelta(minutes=minute)
        batch = demo.fetch(now)
        if minute % 9:
            continue
        odds = parse_odds(demo.odds_payload(now), source="demo", now=now, known_keys=known)
        assert batch.quotes == odds.quotes
        assert [r for r in batch.rejected if r in odds.rejected] == odds.rejected
        assert batch.raw_hash == other.fetch(now).raw_hash


def test_raw_hash_follows_content(demo: DemoSource) -> None:
    assert demo.fetch(at(3)).raw_hash == demo.fetch(at(4)).raw_hash  # nothing posted yet
    assert demo.fetch(at(15)).raw_hash != demo.fetch(at(15.1)).raw_hash


# --- the slate ------------------------------------------------------------------------------


def test_fifteen_games_over_the_day(demo: DemoSource) -> None:
    assert len(demo.games) == 15
    keys = [g.game_key for g in demo.games]
    assert len(set(keys)) == 15
    assert all(re.fullmatch(r"2025-07-12-[A-Z]{2,3}@[A-Z]{2,3}(-2)?", k) for k in keys)
    starts = sorted(g.commence for g in demo.games)
    assert starts[0] == int(at(17 + 5 / 60).timestamp())
    assert starts[-1] == int(at(26 + 10 / 60).timestamp())  # 02:10 UTC next day
    for game in demo.games:
        assert 8 * 3600 <= game.commence - game.opens <= 8.5 * 3600
        assert 155 * 60 <= game.ends - game.commence <= 205 * 60
    (nightcap,) = [g for g in demo.games if g.game_key.endswith("-2")]
    opener = next(g for g in demo.games if g.game_key == nightcap.game_key[:-2])
    assert nightcap.commence - opener.commence == 4 * 3600 + 5 * 60


def test_books_markets_and_lines(demo: DemoSource) -> None:
    batch = demo.fetch(at(16))

    books = {q.book for q in batch.quotes}
    assert len(books) >= 8
    assert demo.sharp_books == frozenset({"pinnacle", "circa"}) <= books
    assert {q.market for q in batch.quotes} == {"h2h", "spreads", "totals"}
    keys = {(q.game_key, q.market, q.side, q.book) for q in batch.quotes}
    assert len(keys) == len(batch.quotes)  # one current quote per book and side
    points = {(q.game_key, q.market, q.book, q.side): q.point for q in batch.quotes}
    for q in batch.quotes:
        if q.market == "h2h":
            assert q.point is None
            continue
        assert q.point is not None
        if q.market == "spreads":
            assert abs(q.point) == 1.5
            assert points[q.game_key, "spreads", q.book, OTHER_SIDE[q.side]] == -q.point
        else:
            assert 7.5 <= q.point <= 9.5
        assert q.price <= -100 or q.price >= 100


def test_prices_move_through_the_day(demo: DemoSource) -> None:
    seen: dict[tuple[str, str, str, str], set[int]] = {}
    for now in demo.replay_times(step=timedelta(minutes=20)):
        for q in demo.fetch(now).quotes:
            seen.setdefault((q.game_key, q.market, q.side, q.book), set()).add(q.price)
    moving = [k for k, values in seen.items() if len(values) >= 3]
    assert len(moving) > len(seen) / 2


def test_nothing_is_ahead_of_now(demo: DemoSource) -> None:
    starts = {g.game_key: g.commence for g in demo.games}
    for now in demo.replay_times(step=timedelta(minutes=7)):
        batch = demo.fetch(now)
        assert all(q.last_update <= now for q in batch.quotes)
        assert all(s.as_of <= now for s in batch.splits)
        assert all(starts[q.game_key] > now.timestamp() for q in batch.quotes)  # pregame only


def test_scores_only_after_games_end(demo: DemoSource) -> None:
    games = {g.game_key: g for g in demo.games}
    finals_seen = 0
    for now in demo.replay_times(step=timedelta(minutes=15)):
        for score in demo.fetch(now).scores:
            game, ts = games[score.game_key], now.timestamp()
            if score.status == "final":
                assert ts >= game.ends
                assert (score.home_score, score.away_score) == (game.home_score, game.away_score)
                assert score.home_score != score.away_score
                finals_seen += 1
            else:
                assert score.home_score is None and score.away_score is None
                if game.postponed_at is not None and ts >= game.postponed_at:
                    assert score.status == "postponed"
                else:
                    assert score.status == ("scheduled" if ts < game.commence else "live")
    last = demo.fetch(max(demo.replay_times(step=timedelta(hours=1))))
    for score in last.scores:
        assert score.status == ("postponed" if games[score.game_key].postponed_at else "final")
    assert finals_seen > 15


def test_replay_times(demo: DemoSource) -> None:
    times = list(demo.replay_times())
    assert times[1] - times[0] == timedelta(minutes=1)
    assert times[0].timestamp() == min(g.opens for g in demo.games)
    assert times[-1].timestamp() >= max(g.ends for g in demo.games)
    with pytest.raises(ValueError):
        next(demo.replay_times(step=timedelta(0)))


def test_guards() -> None:
    with pytest.raises(ValueError):
        DemoSource(scale=0)
    with pytest.raises(ValueError, match="aware"):
        DemoSource(1, DAY).fetch(datetime(2025, 7, 12, 16))  # naive: the point of the test


# --- planted events, checked from the data alone -----------------------------------------------


def test_steam_moves_with_a_lagging_book(demo: DemoSource) -> None:
    steams = events(demo, "steam")
    assert len(steams) >= 2
    for e in steams:
        side, lagger = side_of(e), book_of(e)
        before = prices(demo.fetch(e.start - timedelta(seconds=1)), e.game_key, e.market, side)
        third_mover = None
        for second in range(0, 301, 5):
            now = e.start + timedelta(seconds=second)
            current = prices(demo.fetch(now), e.game_key, e.market, side)
            movers = [b for b in before if cents(before[b]) - cents(current[b]) >= 5]
            if len(movers) >= 3:
                third_mover = now
                break
        assert third_mover is not None, f"no steam on {e.game_key}"
        later = demo.fetch(third_mover + timedelta(minutes=2))
        now_prices = prices(later, e.game_key, e.market, side)
        assert [b for b, p in now_prices.items() if p == before[b]] == [lagger]
        ev = sharp_fair(later, e.game_key, e.market, side) * decimal(now_prices[lagger]) - 1
        assert ev >= 0.02, f"{lagger} on {e.game_key} is only {ev:.2%} stale"


def test_reverse_line_movement(demo: DemoSource) -> None:
    rlms = events(demo, "reverse_line_movement")
    assert rlms
    for e in rlms:
        side = side_of(e)
        public: list[tuple[datetime, float]] = []  # (when, sharp fair prob) while tickets >= 60%
        now = e.start
        while now <= e.end + timedelta(minutes=10):
            batch = demo.fetch(now)
            (tickets,) = [
                s.tickets_pct
                for s in batch.splits
                if (s.game_key, s.market, s.side) == (e.game_key, "h2h", side)
            ]
            if tickets >= 60:
                public.append((now, sharp_fair(batch, e.game_key, "h2h", side)))
            now += timedelta(minutes=5)
        assert len(public) >= 10
        p_first, p_last = public[0][1], public[-1][1]
        assert p_last < p_first - 0.015, "the public side's price did not get longer"


def test_sharp_action_splits(demo: DemoSource) -> None:
    for e in events(demo, "sharp_action"):
        batch = demo.fetch(e.end - timedelta(minutes=10))
        (under,) = [
            s
            for s in batch.splits
            if (s.game_key, s.market, s.side) == (e.game_key, "totals", e.side)
        ]
        assert under.money_pct - under.tickets_pct >= 10 and under.tickets is not None
        assert under.tickets >= 100
    sharp_sides = {
        (s.game_key, s.market, s.side)
        for now in demo.replay_times(step=timedelta(minutes=30))
        for s in demo.fetch(now).splits
        if s.money_pct - s.tickets_pct >= 10 and (s.tickets or 0) >= 100
    }
    assert len(sharp_sides) >= 3  # the sharp-action totals plus the RLM games' other side


def test_short_arbitrage_windows(demo: DemoSource) -> None:
    arbs = events(demo, "arbitrage")
    assert len(arbs) >= 2
    for e in arbs:
        sides = ("home", "away") if e.market == "h2h" else ("over", "under")

        def best_sum(now: datetime, e: DemoEvent = e, sides: tuple[str, str] = sides) -> float:
            """sum(1/d) over the best price per side at `now`."""
            batch = demo.fetch(now)
            return sum(
                1 / max(decimal(p) for p in prices(batch, e.game_key, e.market, s).values())
                for s in sides
            )

        assert best_sum(e.start) < 0.995
        assert best_sum(e.start - timedelta(seconds=1)) >= 0.995
        assert best_sum(e.end + timedelta(seconds=1)) >= 0.995
        assert e.end - e.start <= timedelta(minutes=8)


def test_soft_lines_offer_value_short_of_arbitrage(demo: DemoSource) -> None:
    softs = events(demo, "soft_line")
    assert len(softs) >= 15  # a couple per game: the ev strategy always has something to do
    for e in softs:
        side = side_of(e)
        batch = demo.fetch(e.start)
        offered = prices(batch, e.game_key, e.market, side)
        assert sharp_fair(batch, e.game_key, e.market, side) * decimal(offered[book_of(e)]) >= 1.02
        best = [
            max(decimal(p) for p in prices(batch, e.game_key, e.market, s).values())
            for s in (side, OTHER_SIDE[side])
        ]
        assert sum(1 / d for d in best) >= 0.995  # value, not an arbitrage


def test_malformed_rows_take_the_quarantine_path(demo: DemoSource) -> None:
    bad = events(demo, "bad_row")
    assert {e.detail for e in bad} == {"zero price", "unknown team", "price inside +/-100"}
    event_ids = {g.game_key: g.event_id for g in demo.games}
    for e in bad:

        def rejected(now: datetime, e: DemoEvent = e) -> list[Rejected]:
            """The rows quarantined at `now` from this event's game."""
            batch = demo.fetch(now)
            return [r for r in batch.rejected if r.payload["event_id"] == event_ids[e.game_key]]

        during = demo.fetch(e.start + timedelta(seconds=1))
        (row,) = rejected(e.start + timedelta(seconds=1))
        assert row.source == "demo"
        assert row.field == ("name" if e.detail == "unknown team" else "price")
        assert row.payload["bookmaker"] == e.book
        home, away = (prices(during, e.game_key, "h2h", side) for side in ("home", "away"))
        assert set(away) - set(home) == {e.book}  # the other outcome is kept
        assert rejected(e.end + timedelta(seconds=1)) == []


def test_an_occasional_postponement() -> None:
    source = next(
        s for s in (DemoSource(seed, DAY) for seed in range(10)) if events(s, "postponed")
    )
    (e,) = events(source, "postponed")
    game = next(g for g in source.games if g.game_key == e.game_key)
    before, after = source.fetch(e.start - timedelta(seconds=1)), source.fetch(e.start)
    assert any(q.game_key == game.game_key for q in before.quotes)
    assert not any(q.game_key == game.game_key for q in after.quotes)
    for now in (e.start, e.start + timedelta(hours=6)):
        (score,) = [s for s in source.fetch(now).scores if s.game_key == game.game_key]
        assert score.status == "postponed"


# --- load ------------------------------------------------------------------------------------


def test_scale_sixteen_is_a_bigger_market_with_unique_keys() -> None:
    """The load-test knob (its speed is measured in bench/pipelines.py, not asserted here)."""
    big = DemoSource(seed=7, day=DAY, scale=16)
    assert len(big.games) == 240 and len({g.game_key for g in big.games}) == 240
    assert len(big.books) >= 14
    big.fetch(at(16))  # cold: parses everything once; later fetches re-parse what changed
    for minute in range(1, 4):
        batch = big.fetch(at(16) + timedelta(minutes=minute))
        assert len(batch.quotes) > 10_000
        assert len({(q.game_key, q.book, q.market, q.side) for q in batch.quotes}) == len(
            batch.quotes
        )
