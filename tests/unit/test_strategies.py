"""Each strategy over hand-built market histories: where it must fire and where it must not."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.pipelines.odds import american_to_decimal
from app.pipelines.strategies import (
    ALL_STRATEGIES,
    Arbitrage,
    PositiveEV,
    ReverseLineMovement,
    SharpAction,
    StaleLine,
    Steam,
    Strategy,
    StrategyConfig,
    build_strategies,
)
from app.pipelines.types import Game, MarketState, Opportunity, Quote, Split

NOW = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)
GAME = Game("g1", home="NYY", away="BOS", commence_time=NOW + timedelta(hours=1))
STARTED = replace(GAME, commence_time=NOW)


def at(minutes: float) -> datetime:
    """A moment relative to NOW."""
    return NOW + timedelta(minutes=minutes)


def h2h(book: str, home: int, away: int, minutes: float, game: str = "g1") -> list[Quote]:
    """Both sides of a moneyline at one book, `minutes` relative to NOW."""
    return [
        Quote(game, "h2h", "home", book, home, None, at(minutes)),
        Quote(game, "h2h", "away", book, away, None, at(minutes)),
    ]


def totals(book: str, point: float, over: int, under: int, minutes: float) -> list[Quote]:
    """Both sides of a total at one book."""
    return [
        Quote("g1", "totals", "over", book, over, point, at(minutes)),
        Quote("g1", "totals", "under", book, under, point, at(minutes)),
    ]


def split(side: str, tickets_pct: float, money_pct: float, tickets: int | None = None) -> Split:
    """A moneyline split for g1, five minutes old."""
    return Split("g1", "h2h", side, tickets_pct, money_pct, tickets, at(-5))


def state(
    quotes: Iterable[Quote],
    splits: Iterable[Split] = (),
    sharp: Iterable[str] = (),
    games: Iterable[Game] = (GAME,),
) -> MarketState:
    """A MarketState with history sorted the way the collector hands it over."""
    return MarketState(
        games={g.game_key: g for g in games},
        history=sorted(quotes, key=lambda q: q.last_update),
        splits=sorted(splits, key=lambda s: s.as_of),
        sharp_books=frozenset(sharp),
    )


def run(strategy: Strategy, market: MarketState) -> list[Opportunity]:
    """Detect at NOW."""
    return strategy.detect(market, NOW)


def only(opportunities: list[Opportunity]) -> Opportunity:
    """The single opportunity a scenario must produce."""
    assert len(opportunities) == 1, opportunities
    return opportunities[0]


# --- scenarios ----------------------------------------------------------------------------------
# Pinnacle -150/+140 devigs to home 0.590164 / away 0.409836.
PINNACLE_AWAY = (1 / 2.4) / (0.6 + 1 / 2.4)


def ev_quotes() -> list[Quote]:
    """DraftKings +155 on BOS beats a sharp Pinnacle fair price; FanDuel +145 does not (0.4%)."""
    return (
        h2h("pinnacle", -150, 140, -2)
        + h2h("draftkings", -175, 155, -5)
        + h2h("fanduel", -160, 145, -20)
    )


def arb_quotes(home_price: int = 105, away_price: int = 105) -> list[Quote]:
    """Home best at DraftKings, away best at FanDuel."""
    return h2h("draftkings", home_price, -130, -4) + h2h("fanduel", -130, away_price, -3)


def steam_quotes(move_minutes: tuple[float, ...] = (-3, -2, -1), to: int = -135) -> list[Quote]:
    """Three books shorten NYY from -120 to `to`; Caesars sits at -115 since 20 minutes ago."""
    quotes = h2h("caesars", -115, -105, -20)
    for book, minutes in zip(("draftkings", "fanduel", "betmgm"), move_minutes, strict=False):
        quotes += h2h(book, -120, 100, -20) + h2h(book, to, -to - 20, minutes)
    return quotes


# Without sharp books the steam consensus is the lowest-hold mover: -135/+115 at every mover.
STEAM_HOME = (1 / american_to_decimal(-135)) / (
    1 / american_to_decimal(-135) + 1 / american_to_decimal(115)
)


def rlm_quotes(dk_to: int = -135, fd_to: int = -138) -> list[Quote]:
    """NYY opened -150 at three books; DraftKings and FanDuel moved to `dk_to` / `fd_to`."""
    quotes = h2h("betmgm", -150, 130, -60)
    for book, to in (("draftkings", dk_to), ("fanduel", fd_to)):
        quotes += h2h(book, -150, 130, -60) + h2h(book, to, -to - 20, -10)
    return quotes


# --- positive EV --------------------------------------------------------------------------------


def test_ev_fires_against_the_sharp_consensus() -> None:
    opp = only(run(PositiveEV(), state(ev_quotes(), sharp=["pinnacle"])))
    assert (opp.strategy, opp.side, opp.book, opp.price) == ("ev", "away", "draftkings", 155)
    assert opp.fair_prob == pytest.approx(PINNACLE_AWAY)
    assert opp.ev == pytest.approx(PINNACLE_AWAY * 2.55 - 1)  # +4.5%
    assert opp.kelly_fraction == pytest.approx(0.25 * (PINNACLE_AWAY * 2.55 - 1) / 1.55)
    assert opp.data_available_at == at(-2)  # the Pinnacle quote behind the fair price is newest
    assert opp.detected_at == NOW
    assert opp.explanation == (
        "DraftKings +155 on BOS ML vs fair +144 (sharp consensus pinnacle): EV +4.5%"
    )


def test_ev_without_sharp_books_uses_the_lowest_hold_book() -> None:
    opp = only(run(PositiveEV(), state(ev_quotes())))
    assert opp.book == "draftkings"
    assert "lowest-hold book pinnacle" in opp.explanation


def test_ev_with_median_fallback_finds_no_edge() -> None:
    config = StrategyConfig(consensus_fallback="median")  # median away fair 0.398773: EV 1.7%
    assert run(PositiveEV(config), state(ev_quotes())) == []


def test_ev_needs_three_books() -> None:
    two_books = [q for q in ev_quotes() if q.book != "fanduel"]
    assert run(PositiveEV(), state(two_books, sharp=["pinnacle"])) == []


def test_ev_keeps_one_opportunity_per_side_the_best() -> None:
    quotes = ev_quotes() + h2h("betmgm", -180, 160, -6)
    opp = only(run(PositiveEV(), state(quotes, sharp=["pinnacle"])))
    assert (opp.book, opp.price) == ("betmgm", 160)


def test_ev_does_not_see_quotes_from_after_now() -> None:
    quotes = h2h("pinnacle", -150, 140, -2) + h2h("draftkings", -175, 155, 1)
    quotes += h2h("fanduel", -160, 145, -20) + h2h("betmgm", -160, 140, -20)
    assert run(PositiveEV(), state(quotes, sharp=["pinnacle"])) == []


# --- arbitrage ----------------------------------------------------------------------------------


def test_arbitrage_plus105_both_ways_fires_with_both_legs() -> None:
    opps = run(Arbitrage(), state(arb_quotes()))
    assert [(o.side, o.book, o.price) for o in opps] == [
        ("away", "fanduel", 105),
        ("home", "draftkings", 105),
    ]
    for opp in opps:
        assert opp.ev == pytest.approx(0.025)
        assert (opp.fair_prob, opp.kelly_fraction) == (None, 0.0)
        assert opp.data_available_at == at(-3)
        assert "Arbitrage +2.5%" in opp.explanation and "stake 50.0%" in opp.explanation


def test_arbitrage_below_half_a_percent_does_not_fire() -> None:
    thin = state(arb_quotes(home_price=101, away_price=-100))  # profit 0.25%
    assert run(Arbitrage(), thin) == []
    opps = run(Arbitrage(StrategyConfig(arb_min_profit=0.002)), thin)
    assert len(opps) == 2 and opps[0].ev == pytest.approx(1 / (1 / 2.01 + 1 / 2.0) - 1)


def test_arbitrage_needs_two_books() -> None:
    assert run(Arbitrage(), state(h2h("draftkings", 105, 105, -3))) == []


# --- steam --------------------------------------------------------------------------------------


def test_steam_fires_with_the_best_current_price_on_the_steamed_side() -> None:
    opp = only(run(Steam(), state(steam_quotes())))
    assert (opp.strategy, opp.side, opp.book, opp.price) == ("steam", "home", "caesars", -115)
    assert opp.fair_prob == pytest.approx(STEAM_HOME)
    assert opp.ev == pytest.approx(STEAM_HOME * american_to_decimal(-115) - 1)
    assert opp.data_available_at == at(-1)  # the last of the three moves
    assert "3 books moved toward it within 5 min" in opp.explanation
    assert "DraftKings -120->-135" in opp.explanation


def test_steam_with_only_two_books_does_not_fire() -> None:
    assert run(Steam(), state(steam_quotes(move_minutes=(-3, -2)))) == []


def test_steam_moves_outside_the_window_do_not_fire() -> None:
    assert run(Steam(), state(steam_quotes(move_minutes=(-8, -7, -6)))) == []
    wider = StrategyConfig(steam_window=timedelta(minutes=10))
    assert len(run(Steam(wider), state(steam_quotes(move_minutes=(-8, -7, -6))))) == 1


def test_steam_needs_a_moderate_move_at_each_book() -> None:
    assert run(Steam(), state(steam_quotes(to=-123))) == []  # 3 cents: minor


def test_steam_on_a_total_that_moved_up_a_half_point() -> None:
    quotes = totals("caesars", 8.5, -110, -110, -20)
    for book, minutes in (("draftkings", -3), ("fanduel", -2), ("betmgm", -1)):
        quotes += totals(book, 8.5, -110, -110, -20) + totals(book, 9.0, -110, -110, minutes)
    opp = only(run(Steam(), state(quotes)))
    assert (opp.side, opp.point, opp.book) == ("over", 9.0, "betmgm")
    assert "Over 9" in opp.explanation


# --- stale line ---------------------------------------------------------------------------------


def test_stale_line_fires_on_the_book_that_did_not_follow() -> None:
    opp = only(run(StaleLine(), state(steam_quotes())))
    assert (opp.strategy, opp.side, opp.book, opp.price) == ("stale_line", "home", "caesars", -115)
    expected_ev = STEAM_HOME * american_to_decimal(-115) - 1  # +4.4%
    assert opp.ev == pytest.approx(expected_ev)
    assert opp.kelly_fraction == pytest.approx(0.25 * expected_ev / (american_to_decimal(-115) - 1))
    assert opp.data_available_at == at(-1)
    assert opp.explanation.startswith("Stale Caesars -115 on NYY ML: unchanged since 21:40:00 UTC")


def test_stale_line_skips_a_book_that_moved_in_the_last_two_minutes() -> None:
    quotes = steam_quotes() + h2h("caesars", -118, -102, -1)  # still +EV, but it just moved
    assert run(StaleLine(), state(quotes)) == []


def test_stale_line_is_dated_when_its_quiet_spell_became_long_enough() -> None:
    """Time, not a new quote, makes a line stale: the opportunity exists from the moment the
    book had been unchanged for stale_window, and its detection latency counts from there."""
    quotes = [q for q in steam_quotes() if q.book != "caesars"]
    quotes += h2h("caesars", -112, -108, -20) + h2h("caesars", -115, -105, -3)
    config = StrategyConfig(stale_window=timedelta(minutes=2.5))
    opp = only(run(StaleLine(config), state(quotes)))
    assert opp.book == "caesars" and opp.data_available_at == at(-0.5)  # -3 min + 2.5 min


def test_stale_line_needs_steam_and_value() -> None:
    assert run(StaleLine(), state(steam_quotes(move_minutes=(-3, -2)))) == []
    pricey = steam_quotes() + h2h("caesars", -150, 125, -19)
    assert run(StaleLine(), state(pricey)) == []


# --- reverse line movement ----------------------------------------------------------------------


def test_rlm_fires_on_the_side_the_line_moved_toward() -> None:
    public_on_home = [split("home", 75, 60), split("away", 25, 40)]
    opp = only(run(ReverseLineMovement(), state(rlm_quotes(), public_on_home)))
    assert (opp.strategy, opp.side, opp.book, opp.price) == (
        "reverse_line_movement",
        "away",
        "betmgm",
        130,
    )
    assert opp.data_available_at == at(-5)  # the split is the newest input
    assert opp.kelly_fraction == 0.0  # +130 is worse than fair here: a signal, not a bet
    assert opp.explanation.startswith("RLM: 75% of tickets on NYY ML but 2 books moved against it")


def test_line_moving_with_the_public_is_not_rlm() -> None:
    public_on_home = [split("home", 75, 60)]
    assert run(ReverseLineMovement(), state(rlm_quotes(-165, -170), public_on_home)) == []


def test_rlm_needs_a_ticket_majority_and_two_books() -> None:
    assert run(ReverseLineMovement(), state(rlm_quotes(), [split("home", 55, 60)])) == []
    one_book = rlm_quotes(fd_to=-150)
    assert run(ReverseLineMovement(), state(one_book, [split("home", 75, 60)])) == []


# --- sharp action -------------------------------------------------------------------------------

SHARP_QUOTES = h2h("draftkings", -150, 130, -10) + h2h("fanduel", -145, 128, -10)


def test_sharp_action_fires_on_money_ahead_of_tickets() -> None:
    splits = [split("away", 35, 50, 140), split("home", 65, 50, 260)]
    opp = only(run(SharpAction(), state(SHARP_QUOTES, splits)))
    assert (opp.strategy, opp.side, opp.book, opp.price) == (
        "sharp_action",
        "away",
        "draftkings",
        130,
    )
    assert opp.data_available_at == at(-5)
    assert "35% of tickets but 50% of money (+15 pts, 400 tickets)" in opp.explanation


def test_sharp_action_without_counts_still_fires() -> None:
    assert len(run(SharpAction(), state(SHARP_QUOTES, [split("away", 35, 50)]))) == 1


def test_sharp_action_needs_the_gap_and_the_tickets() -> None:
    assert run(SharpAction(), state(SHARP_QUOTES, [split("away", 40, 48, 300)])) == []
    few = [split("away", 35, 50, 20), split("home", 65, 50, 40)]
    assert run(SharpAction(), state(SHARP_QUOTES, few)) == []


# --- global guards and wiring -------------------------------------------------------------------

FIRING: dict[str, Callable[[Iterable[Game]], MarketState]] = {
    "ev": lambda games: state(ev_quotes(), sharp=["pinnacle"], games=games),
    "arbitrage": lambda games: state(arb_quotes(), games=games),
    "steam": lambda games: state(steam_quotes(), games=games),
    "stale_line": lambda games: state(steam_quotes(), games=games),
    "reverse_line_movement": lambda games: state(
        rlm_quotes(), [split("home", 75, 60)], games=games
    ),
    "sharp_action": lambda games: state(SHARP_QUOTES, [split("away", 35, 50)], games=games),
}


@pytest.mark.parametrize("name", list(ALL_STRATEGIES))
def test_every_strategy_skips_games_that_have_started(name: str) -> None:
    strategy = ALL_STRATEGIES[name]()
    assert run(strategy, FIRING[name]([GAME])), "the scenario must fire for an upcoming game"
    assert run(strategy, FIRING[name]([STARTED])) == []


def test_output_is_sorted_and_deterministic() -> None:
    other = Game("g0", "LAD", "SF", NOW + timedelta(hours=2))
    quotes = arb_quotes() + h2h("draftkings", 110, -130, -4, game="g0")
    quotes += h2h("fanduel", -130, 110, -4, game="g0")
    opps = run(Arbitrage(), state(quotes, games=[GAME, other]))
    assert [(o.game_key, o.side) for o in opps] == [
        ("g0", "away"),
        ("g0", "home"),
        ("g1", "away"),
        ("g1", "home"),
    ]
    assert run(Arbitrage(), state(reversed(quotes), games=[other, GAME])) == opps


def test_detect_refuses_a_naive_clock() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Arbitrage().detect(state(arb_quotes()), NOW.replace(tzinfo=None))


def test_build_strategies_by_name_with_one_config() -> None:
    assert list(ALL_STRATEGIES) == [
        "ev",
        "arbitrage",
        "steam",
        "stale_line",
        "reverse_line_movement",
        "sharp_action",
    ]
    config = StrategyConfig(ev_min=0.03)
    built = build_strategies(config, ["steam", "ev"])
    assert [s.name for s in built] == ["steam", "ev"]
    assert all(s.config is config for s in built)
    assert [s.name for s in build_strategies()] == list(ALL_STRATEGIES)
    with pytest.raises(ValueError, match="unknown strategies"):
        build_strategies(names=["martingale"])


def test_config_defaults_follow_the_domain_and_bad_values_are_refused() -> None:
    c = StrategyConfig()
    assert (c.ev_min, c.ev_min_books, c.arb_min_profit) == (0.02, 3, 0.005)
    assert (c.steam_min_books, c.steam_window, c.steam_min_move_cents) == (
        3,
        timedelta(minutes=5),
        5.0,
    )
    assert (c.stale_window, c.stale_min_ev, c.rlm_min_tickets_pct) == (
        timedelta(minutes=2),
        0.02,
        60.0,
    )
    assert (c.sharp_min_diff, c.sharp_min_tickets) == (10.0, 100)
    assert (c.kelly_fraction, c.kelly_cap, c.devig_method) == (0.25, 0.02, "multiplicative")
    with pytest.raises(ValueError, match="devig_method"):
        StrategyConfig(devig_method="vibes")
    with pytest.raises(ValueError, match="steam_window"):
        StrategyConfig(steam_window=timedelta(0))
