"""Market views: pairing sides into book markets, line moves in windows, consensus fair prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.pipelines.market import (
    MarketIndex,
    best_quote,
    consensus_fair_probs,
    current_quotes,
    group_book_markets,
    last_change_at,
    latest_quotes,
    line_move,
    market_line,
    move_in_window,
)
from app.pipelines.types import Game, MarketState, Quote

NOW = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """A moment relative to NOW."""
    return NOW + timedelta(minutes=minutes)


def quote(
    book: str,
    side: str,
    price: int,
    minutes: float = -30,
    *,
    market: str = "h2h",
    point: float | None = None,
    game: str = "g1",
) -> Quote:
    """One quote, `minutes` relative to NOW."""
    return Quote(game, market, side, book, price, point, at(minutes))


def h2h(book: str, home: int, away: int, minutes: float = -30) -> list[Quote]:
    """Both sides of a moneyline at one book."""
    return [quote(book, "home", home, minutes), quote(book, "away", away, minutes)]


def test_market_line_pairs_spread_sides_by_the_home_point() -> None:
    assert market_line(quote("dk", "home", -110, market="spreads", point=-1.5)) == -1.5
    assert market_line(quote("dk", "away", -110, market="spreads", point=1.5)) == -1.5
    assert market_line(quote("dk", "over", -110, market="totals", point=8.5)) == 8.5
    assert market_line(quote("dk", "under", -110, market="totals", point=8.5)) == 8.5
    assert market_line(quote("dk", "home", -110)) is None


def test_group_book_markets_needs_both_sides_at_the_same_line() -> None:
    quotes = [
        quote("dk", "home", 140, market="spreads", point=-1.5),
        quote("dk", "away", -165, market="spreads", point=1.5),
        quote("fd", "home", 150, market="spreads", point=-1.5),
        quote("fd", "away", -170, market="spreads", point=2.5),  # mid-update: lines disagree
        quote("mgm", "over", -110, market="totals", point=8.5),  # under missing
        quote("cz", "over", -105, market="totals", point=9.0),
        quote("cz", "under", -115, market="totals", point=9.0),
    ]
    grouped = group_book_markets(quotes)
    assert set(grouped) == {("g1", "spreads", -1.5), ("g1", "totals", 9.0)}
    (dk,) = grouped[("g1", "spreads", -1.5)]
    assert dk.book == "dk"
    assert dk.sides == ("home", "away")
    assert [q.price for q in dk.quotes] == [140, -165]
    assert grouped[("g1", "totals", 9.0)][0].sides == ("over", "under")


def test_latest_is_point_aware_while_current_follows_the_book() -> None:
    quotes = [
        quote("dk", "over", -110, -20, market="totals", point=8.5),
        quote("dk", "over", -115, -10, market="totals", point=8.5),
        quote("dk", "over", -105, -5, market="totals", point=9.0),
        quote("dk", "over", -130, 5, market="totals", point=9.0),  # after NOW
    ]
    latest = latest_quotes(quotes, NOW)
    assert {k[-1]: q.price for k, q in latest.items()} == {8.5: -115, 9.0: -105}
    current = current_quotes(quotes, NOW)
    assert [q.price for q in current.values()] == [-105]
    assert [q.price for q in current_quotes(quotes).values()] == [-130]


def test_line_move_direction_and_size() -> None:
    shorter = line_move(quote("dk", "home", -120, -10), quote("dk", "home", -135, -1))
    assert (shorter.toward, shorter.cents, shorter.size) == (1, 15.0, "significant")
    longer = line_move(quote("dk", "away", -105, -10), quote("dk", "away", 105, -1))
    assert (longer.toward, longer.cents, longer.size) == (-1, 10.0, "moderate")
    over = line_move(
        quote("dk", "over", -110, -10, market="totals", point=8.5),
        quote("dk", "over", -110, -1, market="totals", point=9.0),
    )
    assert (over.toward, over.point_change, over.size) == (1, 0.5, "moderate")
    under = line_move(
        quote("dk", "under", -110, -10, market="totals", point=8.5),
        quote("dk", "under", -110, -1, market="totals", point=9.0),
    )
    assert under.toward == -1
    home_spread = line_move(
        quote("dk", "home", 140, -10, market="spreads", point=-1.5),
        quote("dk", "home", -110, -1, market="spreads", point=-2.5),
    )
    assert (home_spread.toward, home_spread.size) == (1, "significant")
    with pytest.raises(ValueError, match="same game"):
        line_move(quote("dk", "home", -120), quote("fd", "home", -120))


def test_move_in_window_measures_from_the_price_at_window_start() -> None:
    series = [
        quote("dk", "home", -120, -20),
        quote("dk", "home", -130, -8),  # before the window
        quote("dk", "home", -130, -4),  # re-snapshot, same price
        quote("dk", "home", -140, -2),
    ]
    move = move_in_window(series, at(-5), NOW)
    assert move is not None
    assert (move.before.price, move.after.price, move.cents) == (-130, -140, 10.0)
    assert move_in_window(series[:3], at(-5), NOW) is None  # nothing changed in the window
    assert move_in_window(series, at(-30), at(-25)) is None  # no quote yet
    first_in_window = move_in_window(series[2:], at(-5), NOW)
    assert first_in_window is not None and first_in_window.before.price == -130


def test_last_change_ignores_re_snapshots_at_the_same_price() -> None:
    series = [
        quote("dk", "home", -120, -20),
        quote("dk", "home", -130, -8),
        quote("dk", "home", -130, -4),
        quote("dk", "home", -130, -1),
    ]
    assert last_change_at(series, NOW) == at(-8)
    assert last_change_at(series[:1], NOW) == at(-20)
    assert last_change_at(series, at(-25)) is None


def test_best_quote_prefers_highest_decimal_then_newest() -> None:
    quotes = [
        quote("dk", "away", 120, -9),
        quote("fd", "away", -105),
        quote("mgm", "away", 120, -2),
    ]
    best = best_quote(quotes)
    assert best is not None and best.book == "mgm"
    assert best_quote([]) is None


BOOKS = group_book_markets(
    h2h("pinnacle", -150, 140) + h2h("circa", -160, 145) + h2h("dk", -175, 155)
)[("g1", "h2h", None)]


def test_consensus_averages_sharp_books() -> None:
    consensus = consensus_fair_probs(BOOKS, frozenset({"pinnacle", "circa"}))
    assert consensus is not None
    assert consensus.source == "sharp"
    assert consensus.books == ("circa", "pinnacle")
    pinnacle_home = 0.6 / (0.6 + 1 / 2.4)
    circa_home = (1 / 1.625) / (1 / 1.625 + 1 / 2.45)
    assert consensus.probs["home"] == pytest.approx((pinnacle_home + circa_home) / 2)
    assert sum(consensus.probs.values()) == pytest.approx(1.0)
    assert consensus.describe() == "sharp consensus circa, pinnacle"


def test_consensus_falls_back_to_lowest_hold_then_median() -> None:
    lowest = consensus_fair_probs(BOOKS, frozenset())
    assert lowest is not None
    assert (lowest.source, lowest.books) == ("lowest_hold", ("pinnacle",))
    assert lowest.probs["home"] == pytest.approx(0.6 / (0.6 + 1 / 2.4))
    median = consensus_fair_probs(BOOKS, frozenset(), fallback="median")
    assert median is not None
    assert median.source == "median"
    assert median.describe() == "median of 3 books"
    circa_home = (1 / 1.625) / (1 / 1.625 + 1 / 2.45)
    assert median.probs["home"] == pytest.approx(circa_home)
    assert consensus_fair_probs([], frozenset()) is None


def test_consensus_ignores_a_single_book_arb_as_lowest_hold() -> None:
    markets = group_book_markets(h2h("dk", 105, 105) + h2h("fd", -110, -110))[("g1", "h2h", None)]
    consensus = consensus_fair_probs(markets, frozenset())
    assert consensus is not None
    assert consensus.books == ("fd",)


def test_market_index_drops_started_games_and_future_quotes() -> None:
    upcoming = Game("g1", "NYY", "BOS", at(60))
    started = Game("g2", "LAD", "SF", NOW)
    history = [
        *h2h("dk", -120, 100, -10),
        *h2h("dk", -150, 130, 1),  # in the future of NOW
        quote("dk", "home", -110, -10, game="g2"),
        quote("fd", "away", 100, -10, game="ghost"),  # no such game
    ]
    index = MarketIndex.build(
        MarketState({"g1": upcoming, "g2": started}, history, [], frozenset()), NOW
    )
    assert set(index.games) == {"g1"}
    assert {q.price for q in index.current.values()} == {-120, 100}
    assert [q.book for q in index.quotes_for_side("g1", "h2h", "home")] == ["dk"]
    assert index.main_line("g1", "h2h", "home") is None


def test_main_line_is_the_point_most_books_offer() -> None:
    history = [
        quote("dk", "over", -110, market="totals", point=9.0),
        quote("fd", "over", -110, market="totals", point=9.0),
        quote("mgm", "over", -110, market="totals", point=8.5),
    ]
    game = Game("g1", "NYY", "BOS", at(60))
    index = MarketIndex.build(MarketState({"g1": game}, history, [], frozenset()), NOW)
    assert index.main_line("g1", "totals", "over") == 9.0
