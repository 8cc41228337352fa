"""The bets read model on both databases: states, filters, totals in SQL, legs, current prices."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.queries.bets import BetFilter, _conditions, bet_books, bet_totals, bets
from tests.integration.bets_data import NOW, quote_row, seed_bets

MARKETS = ("h2h", "spreads", "totals")


@pytest.fixture
def seeded(db):
    """The four bets of bets_data on this test's database."""
    return seed_bets(db)


def _keys(page) -> list[str]:
    return sorted(f"{r.state}:{r.market}:{r.book}" for r in page.rows)


def test_every_recommendation_with_its_state(seeded) -> None:
    with seeded.session() as s:
        page = bets(s, BetFilter(), NOW)
    by_state = {r.state for r in page.rows}
    assert by_state == {"open", "settled", "void"} and len(page.rows) == 4
    open_bet = next(r for r in page.rows if r.kind == "single" and r.state == "open")
    assert open_bet.strategies == ("ev", "stale_line", "steam")
    assert (open_bet.home, open_bet.away) == ("SEA", "BOS")
    # best now at the bet's point is DraftKings +160; FanDuel's +150 is below the +166 taken
    assert (open_bet.current_price, open_bet.current_book) == (160, "draftkings")
    assert open_bet.still_available is False
    won = next(r for r in page.rows if r.state == "settled")
    assert won.result == "win" and won.clv == pytest.approx(0.05) and won.close_price == -125
    assert won.still_available is False  # started: nothing is offered any more
    arb = next(r for r in page.rows if r.kind == "arbitrage")
    assert [(leg.side, leg.book, leg.price) for leg in arb.legs] == [
        ("over", "draftkings", 105),
        ("under", "betmgm", 103),
    ]


def test_still_available_when_the_book_holds_the_price(seeded) -> None:
    with seeded.session() as s:
        s.add(
            quote_row("g-open", "away", "fanduel", 170, NOW - timedelta(minutes=1), -1.5, "spreads")
        )
    with seeded.session() as s:
        (row,) = [r for r in bets(s, BetFilter(state="open"), NOW).rows if r.kind == "single"]
    assert row.still_available is True and (row.current_price, row.current_book) == (170, "fanduel")


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (BetFilter(state="open"), ["open:spreads:fanduel", "open:totals:betmgm+draftkings"]),
        (BetFilter(state="settled"), ["settled:h2h:williamhill_us"]),
        (BetFilter(state="void"), ["void:h2h:fanduel"]),
        (BetFilter(strategy="stale_line"), ["open:spreads:fanduel"]),
        (BetFilter(strategy="steam"), ["open:spreads:fanduel", "void:h2h:fanduel"]),
        (BetFilter(strategy="stale"), []),  # a whole tag, not a prefix
        (BetFilter(book="betmgm"), ["open:totals:betmgm+draftkings"]),  # a leg's book
        (BetFilter(book="williamhill_us"), ["settled:h2h:williamhill_us"]),
        (BetFilter(market="totals"), ["open:totals:betmgm+draftkings"]),
        (
            BetFilter(start_from=NOW - timedelta(days=1, hours=1), start_before=NOW),
            ["settled:h2h:williamhill_us"],
        ),
    ],
)
def test_filters_run_in_sql(seeded, f, expected) -> None:
    with seeded.session() as s:
        page = bets(s, f, NOW)
        totals = bet_totals(s, f)
    assert _keys(page) == sorted(expected)
    assert totals.bets == len(expected)


def test_totals_are_one_aggregate(seeded) -> None:
    with seeded.session() as s:
        t = bet_totals(s, BetFilter())
        books = bet_books(s)
    assert t.bets == 4
    assert t.staked == pytest.approx(1.0 + 1.0 + 2.0)  # the void's stake is not at risk
    assert (t.settled, t.wins, t.losses, t.pushes) == (1, 1, 0, 0)
    assert t.units == pytest.approx(1 / 1.1) and t.roi == pytest.approx(1 / 1.1)
    assert t.avg_clv == pytest.approx(0.05) and t.clv_n == 1
    assert books == ["betmgm", "draftkings", "fanduel", "williamhill_us"]


def test_paging_says_when_more_exist(seeded) -> None:
    with seeded.session() as s:
        page = bets(s, BetFilter(), NOW, limit=3)
    assert len(page.rows) == 3 and page.truncated and page.totals.bets == 4


def test_pages_walked_by_first_pitch_are_one_order_by_over_every_bet(db) -> None:
    """The page of bets comes from a walk down the games' first pitches plus a query for the
    bets with no game row; every page equals the slice of one ORDER BY over the whole set."""
    from sqlalchemy import select

    from app.models import Game, Grade, Recommendation
    from tests.integration.bets_data import _game, _rec

    with db.session() as s:
        for day in range(6):
            start = NOW - timedelta(days=day, hours=day % 2)
            s.add(_game(f"g{day}", "SEA", "BOS", start))
            for i in range(3):  # ties on first pitch and on creation time
                at = NOW - timedelta(days=day, hours=4 + i % 2)
                s.add(_rec(f"b{day}-{i}", f"g{day}", created_at=at, market=MARKETS[i]))
        for i in range(4):  # games no row names: no first pitch to sort by
            s.add(_rec(f"lost-{i}", f"missing-{i}", created_at=NOW - timedelta(hours=i % 2)))
    r = Recommendation
    whole = (
        select(r.id)
        .outerjoin(Game, Game.game_key == r.game_key)
        .outerjoin(Grade, Grade.recommendation_id == r.id)
        .order_by(Game.commence_time.desc(), r.created_at.desc(), r.id)
    )
    for f in (BetFilter(), BetFilter(market="h2h"), BetFilter(state="open")):
        with db.session() as s:
            every = list(s.scalars(whole.where(*_conditions(f))))
            assert len(every) > 8
            for offset in range(len(every) + 1):
                for limit in (1, 3, 7, len(every)):
                    page = bets(s, f, NOW, limit=limit, offset=offset)
                    assert [row.id for row in page.rows] == [
                        str(i) for i in every[offset : offset + limit]
                    ], (f, offset, limit)
                    assert page.truncated == (offset + limit < len(every))
