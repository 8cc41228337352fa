"""The bets page's totals on both databases: read from the totals rollup they equal one
aggregate over every bet (the raw scan), stored or not, before and after late changes."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.models import Game, Grade, Recommendation, RecommendationLeg, RollupBetTotal
from app.queries.bets import BetFilter, _sums, bet_totals, bets
from app.rollups.bet_totals import BLOCK
from app.rollups.keeper import refresh_all
from app.rollups.slices import DAY

NOW = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)
STRATEGIES = ("ev", "steam", "stale_line", "arbitrage")
BOOKS = ("fanduel", "draftkings", "betmgm", "williamhill_us")
MARKETS = ("h2h", "spreads", "totals")
FILTERS = [
    BetFilter(),
    BetFilter(state="open"),
    BetFilter(state="settled"),
    BetFilter(state="void"),
    BetFilter(strategy="steam"),
    BetFilter(strategy="stale"),  # a whole tag, not a prefix
    BetFilter(strategy="arbitrage", state="settled"),
    BetFilter(book="betmgm"),  # single bets' book and arbitrage legs'
    BetFilter(book="fanduel", market="totals"),
    BetFilter(book="fan%"),  # a LIKE wildcard is a character here
    BetFilter(book="a|b"),  # a name the rollup's keys cannot hold: the raw aggregate
    BetFilter(market="spreads", state="settled", strategy="ev"),
    BetFilter(start_from=NOW - timedelta(days=9), start_before=NOW - timedelta(days=2)),
]


def _seed(db, n: int = 260, seed: int = 11) -> None:
    """Bets over 75 days (whole 30-day blocks and the days after them): singles on one to three strategies, arbitrage positions with two
    legs, graded (win, loss, push, void; CLV or none) or open, some with no game row."""
    rng = random.Random(seed)
    with db.session() as s:
        for day in range(77):
            s.add(
                Game(
                    game_key=f"g{day}",
                    home="SEA",
                    away="BOS",
                    commence_time=NOW - timedelta(days=day, hours=2),
                    status="final",
                )
            )
        for i in range(n):
            at = NOW - timedelta(days=rng.uniform(0, 75))
            arb = i % 7 == 0
            tags = ["arbitrage"] if arb else rng.sample(STRATEGIES[:3], rng.randint(1, 3))
            book = "+".join(rng.sample(BOOKS, 2)) if arb else rng.choice(BOOKS)
            graded = rng.random() < 0.8
            rec = Recommendation(
                bet_key=f"b{i}",
                kind="arbitrage" if arb else "single",
                strategy=tags[0],
                strategies=tags,
                game_key=f"g{rng.randint(0, 79)}",  # g77..g79 have no game row
                market=rng.choice(MARKETS),
                side="all" if arb else "home",
                book=book,
                price=rng.choice([-120, 105, 140]),
                ev=0.03,
                stake_units=rng.choice([0.5, 1.0, 2.0]),
                clv=rng.gauss(0.01, 0.03) if rng.random() < 0.7 else None,
                status="graded" if graded else rng.choice(["open", "closed"]),
                created_at=at,
                updated_at=at,
            )
            s.add(rec)
            s.flush()
            if arb:
                for side, leg_book in zip(("over", "under"), book.split("+"), strict=True):
                    s.add(
                        RecommendationLeg(
                            recommendation_id=rec.id,
                            side=side,
                            book=leg_book,
                            price=105,
                            stake_units=rec.stake_units / 2,
                        )
                    )
            if graded:
                result = rng.choice(["win", "loss", "loss", "push", "void"])
                stake = rec.stake_units
                profit = {"win": stake * 0.9, "loss": -stake}.get(result, 0.0)
                s.add(
                    Grade(
                        recommendation_id=rec.id,
                        strategy=rec.strategy,
                        strategies=tags,
                        result=result,
                        stake_units=stake,
                        profit_units=profit,
                        clv=rec.clv if result != "void" else None,
                        graded_at=min(at + timedelta(hours=rng.uniform(3, 30)), NOW),
                    )
                )


def _both(db, now: datetime = NOW) -> list[tuple[dict, dict]]:
    """Per filter, (the totals as read, the one aggregate over every bet)."""
    out = []
    with db.session() as s:
        for f in FILTERS:
            out.append((asdict(bet_totals(s, f, now)), _sums(s, f)))
    return out


def _assert_equal(pairs: list[tuple[dict, dict]]) -> None:
    for f, (got, want) in zip(FILTERS, pairs, strict=True):
        assert got == pytest.approx(want), f


@pytest.fixture
def seeded(make_app):
    """The bets on this test's database, with no keeper: only the test stores rollups."""
    db = make_app(rollup_keeper=False).extensions["dugout.db"]
    _seed(db)
    return db


def test_totals_from_the_rollup_equal_one_aggregate_over_every_bet(seeded) -> None:
    db = seeded
    _assert_equal(_both(db))  # nothing stored: every day from the ledger
    assert refresh_all(db.sessionmaker, NOW)["bet_totals"] > 25
    with db.session() as s:
        sizes = dict(
            s.execute(
                select(RollupBetTotal.size_s, func.count())
                .where(RollupBetTotal.tags != "*")
                .group_by(RollupBetTotal.size_s)
            ).all()
        )
    assert sizes[int(BLOCK.total_seconds())] > 20 and sizes[int(DAY.total_seconds())] > 20
    _assert_equal(_both(db))  # stored days, today's grades and the open bets from the ledger
    _assert_equal(_both(db, NOW + timedelta(days=3)))  # a later reader: days not stored yet
    with db.session() as s:
        totals = bet_totals(s, BetFilter(), NOW)
        page = bets(s, BetFilter(), NOW, limit=1000)
    assert totals.bets == len(page.rows) == 260  # the grid's row count is the list's
    assert totals.settled > 0 and totals.wins > 0 and totals.clv_n > 0


def test_totals_follow_late_grades_and_changes(seeded) -> None:
    db = seeded
    refresh_all(db.sessionmaker, NOW)
    with db.session() as s:  # an old open bet is graded late; settled ones change result
        rec = s.scalars(
            select(Recommendation)
            .where(
                Recommendation.status != "graded",
                Recommendation.created_at < NOW - timedelta(days=50),
            )
            .limit(1)
        ).one()
        rec.status = "graded"
        s.add(
            Grade(
                recommendation_id=rec.id,
                strategy=rec.strategy,
                strategies=rec.strategies,
                result="win",
                stake_units=rec.stake_units,
                profit_units=rec.stake_units,
                clv=rec.clv,
                graded_at=NOW - timedelta(days=48),  # in a stored block
            )
        )
        s.execute(
            update(Grade)
            .where(Grade.graded_at < NOW - timedelta(days=20), Grade.result == "loss")
            .values(result="push", profit_units=0.0)
        )
    _assert_equal(_both(db))  # the changed days forgotten: read from the ledger
    refresh_all(db.sessionmaker, NOW)
    _assert_equal(_both(db))  # and stored again
    with db.session() as s:
        s.execute(RollupBetTotal.__table__.delete())
    _assert_equal(_both(db))
