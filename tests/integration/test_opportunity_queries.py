"""Opportunities as bets on both databases: one row per (game, market, side, point, book,
price) with every strategy's tag, arbitrage one position with its legs, +EV only unless asked,
live or expired from the book's newest quote."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Game, OpportunityRow
from app.queries.opportunities import (
    arbitrages,
    opportunities,
    opportunity_books,
    opportunity_evs,
)
from tests.integration.bets_data import quote_row

NOW = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)


def _opp(strategy: str, **kw) -> OpportunityRow:
    values = dict(
        strategy=strategy,
        game_key="g1",
        market="spreads",
        side="away",
        book="fanduel",
        price=166,
        point=-1.5,
        fair_prob=0.4,
        ev=0.04,
        kelly_fraction=0.01,
        data_available_at=NOW - timedelta(minutes=10),
        detected_at=NOW - timedelta(minutes=9),
        latency_ms=800.0,
        explanation=f"{strategy} says so",
        fingerprint=uuid.uuid4().hex,
    )
    values.update(kw)
    return OpportunityRow(**values)


@pytest.fixture
def seeded(db):
    later = NOW + timedelta(hours=2)
    at = NOW - timedelta(minutes=20)
    with db.session() as s:
        s.add_all(
            [
                Game(game_key="g1", home="SEA", away="KC", commence_time=later),
                Game(game_key="g2", home="LAD", away="SD", commence_time=later),
                _opp("stale_line", ev=0.05),
                _opp("steam", ev=0.03, detected_at=NOW - timedelta(minutes=2)),
                _opp("ev", ev=0.04),
                _opp("ev", price=150, ev=0.01),  # another price: another row
                _opp(
                    "sharp_action",
                    market="h2h",
                    side="home",
                    point=None,
                    price=-120,
                    ev=-0.02,
                    book="betmgm",
                ),
                _opp(
                    "arbitrage",
                    game_key="g2",
                    market="totals",
                    side="over",
                    point=8.5,
                    book="draftkings",
                    price=105,
                    ev=0.02,
                    data_available_at=at,
                ),
                _opp(
                    "arbitrage",
                    game_key="g2",
                    market="totals",
                    side="under",
                    point=8.5,
                    book="betmgm",
                    price=104,
                    ev=0.02,
                    data_available_at=at,
                ),
                quote_row(
                    "g1", "away", "fanduel", 170, NOW - timedelta(minutes=1), -1.5, "spreads"
                ),
                quote_row("g2", "over", "draftkings", 105, at, 8.5, "totals"),
                quote_row("g2", "under", "betmgm", -110, NOW - timedelta(minutes=1), 8.5, "totals"),
            ]
        )
    return db


def test_three_strategies_make_one_row_with_three_tags(seeded) -> None:
    with seeded.session() as s:
        rows = opportunities(s, NOW)
    assert [(r.price, r.strategies) for r in rows] == [
        (166, ("ev", "stale_line", "steam")),
        (150, ("ev",)),
    ]
    top = rows[0]
    assert top.strategy == "stale_line" and top.ev == pytest.approx(0.05)  # the best signal
    assert top.detected_at == NOW - timedelta(minutes=2)  # the newest detection
    assert (top.home, top.away, top.commence_time) == ("SEA", "KC", NOW + timedelta(hours=2))
    assert top.live is True  # FanDuel now +170 at -1.5
    assert rows[1].live is True  # +170 beats +150 too


def test_positive_ev_only_unless_asked(seeded) -> None:
    with seeded.session() as s:
        every = opportunities(s, NOW, positive_only=False)
        strong = opportunities(s, NOW, min_ev=0.045)
    assert {r.strategy for r in every} >= {"sharp_action"}
    assert [r.price for r in strong] == [166]


@pytest.mark.parametrize(
    "kw",
    [{}, {"positive_only": False}, {"min_ev": 0.045}, {"strategy": "steam"}, {"book": "betmgm"}],
)
def test_the_histogram_values_are_the_listed_bets_evs(seeded, kw) -> None:
    with seeded.session() as s:
        assert opportunity_evs(s, NOW, **kw) == [r.ev for r in opportunities(s, NOW, **kw)]
        assert opportunity_evs(s, NOW, limit=1, **kw) == [
            r.ev for r in opportunities(s, NOW, limit=1, **kw)
        ]


def test_a_strategy_filter_keeps_the_other_tags(seeded) -> None:
    with seeded.session() as s:
        steam = opportunities(s, NOW, strategy="steam")
        books = opportunity_books(s, NOW, timedelta(hours=24))
    assert [(r.price, r.strategies) for r in steam] == [(166, ("ev", "stale_line", "steam"))]
    assert books == ["betmgm", "draftkings", "fanduel"]


def test_expired_once_the_game_starts(seeded) -> None:
    with seeded.session() as s:
        rows = opportunities(s, NOW + timedelta(hours=3), window=timedelta(days=1))
    assert rows and not any(r.live for r in rows)


def test_arbitrage_is_one_position_with_its_legs(seeded) -> None:
    with seeded.session() as s:
        (arb,) = arbitrages(s, NOW)
        assert opportunities(s, NOW, book="draftkings") == []  # legs are not single bets
        assert len(arbitrages(s, NOW, book="betmgm")) == 1
    assert arb.profit == pytest.approx(0.02) and arb.point == 8.5
    assert [(leg.side, leg.book, leg.price) for leg in arb.legs] == [
        ("over", "draftkings", 105),
        ("under", "betmgm", 104),
    ]
    shares = [leg.stake_share for leg in arb.legs]
    assert sum(shares) == pytest.approx(1.0) and shares[0] == pytest.approx(
        (1 / 2.05) / (1 / 2.05 + 1 / 2.04)
    )
    assert [leg.live for leg in arb.legs] == [True, False] and not arb.live  # under moved
