"""The bets read model on both databases: states, filters, totals in SQL, legs, current prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Game, Grade, QuoteRow, Recommendation, RecommendationLeg
from app.queries.bets import BetFilter, bet_books, bet_totals, bets

NOW = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)


def _game(key: str, home: str, away: str, start: datetime, status: str = "scheduled") -> Game:
    return Game(game_key=key, home=home, away=away, commence_time=start, status=status)


def _rec(key: str, game: str, **kw) -> Recommendation:
    values = dict(
        bet_key=key,
        kind="single",
        strategy="ev",
        strategies=["ev"],
        game_key=game,
        market="h2h",
        side="home",
        book="fanduel",
        price=120,
        point=None,
        ev=0.04,
        stake_units=1.0,
        created_at=NOW - timedelta(hours=3),
    )
    values.update(kw)
    return Recommendation(**values)


def _quote(game: str, side: str, book: str, price: int, at: datetime, point=None, market="h2h"):
    return QuoteRow(
        source="demo",
        game_key=game,
        market=market,
        side=side,
        book=book,
        price=price,
        point=point,
        last_update=at,
        collected_at=at,
    )


@pytest.fixture
def seeded(db):
    """Four bets: an open one on three strategies, a settled win with CLV, a void, an arb."""
    later = NOW + timedelta(hours=2)
    with db.session() as s:
        s.add_all(
            [
                _game("g-open", "SEA", "BOS", later),
                _game("g-done", "NYY", "TOR", NOW - timedelta(days=1), "final"),
                _game("g-void", "CHC", "STL", NOW - timedelta(days=2), "postponed"),
                _game("g-arb", "LAD", "SD", later),
            ]
        )
        open_bet = _rec(
            "open",
            "g-open",
            strategies=["ev", "stale_line", "steam"],
            price=166,
            market="spreads",
            side="away",
            point=-1.5,
            book="fanduel",
        )
        won = _rec(
            "won",
            "g-done",
            status="graded",
            price=-110,
            book="williamhill_us",
            clv=0.05,
            line_clv=None,
            close_price=-125,
            clv_basis="price",
        )
        void = _rec("void", "g-void", status="graded", strategy="steam", strategies=["steam"])
        arb = _rec(
            "arb",
            "g-arb",
            kind="arbitrage",
            strategy="arbitrage",
            strategies=["arbitrage"],
            market="totals",
            side="all",
            point=8.5,
            book="betmgm+draftkings",
            price=-3900,
            stake_units=2.0,
        )
        s.add_all([open_bet, won, void, arb])
        s.flush()
        arb.legs = [
            RecommendationLeg(
                side="over", book="draftkings", price=105, point=8.5, stake_units=0.99
            ),
            RecommendationLeg(side="under", book="betmgm", price=103, point=8.5, stake_units=1.01),
        ]
        s.add_all(
            [
                Grade(
                    recommendation_id=won.id,
                    strategy="ev",
                    strategies=["ev"],
                    result="win",
                    stake_units=1.0,
                    profit_units=1.0 / 1.1,
                    clv=0.05,
                    graded_at=NOW,
                ),
                Grade(
                    recommendation_id=void.id,
                    strategy="steam",
                    strategies=["steam"],
                    result="void",
                    stake_units=1.0,
                    profit_units=0.0,
                    graded_at=NOW,
                ),
            ]
        )
        early, late = NOW - timedelta(hours=1), NOW - timedelta(minutes=5)
        s.add_all(
            [  # FanDuel moved off +166 to +150; DraftKings now has +160 at the same point
                _quote("g-open", "away", "fanduel", 166, early, -1.5, "spreads"),
                _quote("g-open", "away", "fanduel", 150, late, -1.5, "spreads"),
                _quote("g-open", "away", "draftkings", 160, late, -1.5, "spreads"),
                _quote("g-open", "away", "betmgm", 190, late, -2.5, "spreads"),  # another point
            ]
        )
    return db


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
        s.add(_quote("g-open", "away", "fanduel", 170, NOW - timedelta(minutes=1), -1.5, "spreads"))
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
