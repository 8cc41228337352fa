"""Bets for the read model and page tests: an open bet on three strategies, a settled win
with CLV, a void, an arbitrage with two legs, and current quotes for the open bet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models import Game, Grade, QuoteRow, Recommendation, RecommendationLeg

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


def quote_row(game: str, side: str, book: str, price: int, at: datetime, point=None, market="h2h"):
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


def seed_bets(db):
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
                quote_row("g-open", "away", "fanduel", 166, early, -1.5, "spreads"),
                quote_row("g-open", "away", "fanduel", 150, late, -1.5, "spreads"),
                quote_row("g-open", "away", "draftkings", 160, late, -1.5, "spreads"),
                quote_row("g-open", "away", "betmgm", 190, late, -2.5, "spreads"),  # another point
            ]
        )
    return db
