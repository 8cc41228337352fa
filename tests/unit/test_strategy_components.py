"""The strategies table lists every configured strategy, idle ones with their reason, and
marks a short record instead of presenting it as a verdict."""

from __future__ import annotations

from app.queries.strategy_stats import ResultSums, StrategyStats
from components.strategies import TOO_FEW, split_rows, stats_rows


def _six_and_oh() -> StrategyStats:
    sums = ResultSums(
        bets=6,
        wins=6,
        staked=6.0,
        units=5.6,
        units_sq=5.3,
        units_stake=5.6,
        stake_sq=6.0,
        clv_n=6,
        clv_sum=0.12,
        clv_sq=0.0030,
    )
    stats = StrategyStats("steam", sums)
    stats.by_book = {"williamhill_us": sums}
    stats.by_market = {"spreads": sums}
    return stats


def test_every_strategy_with_its_status_and_sample_mark() -> None:
    rows = stats_rows(
        ["ev", "arbitrage", "steam", "sharp_action"],
        {"steam": _six_and_oh()},
        {"sharp_action": "no splits source is configured"},
    )
    by = {r["strategy"]: r for r in rows}
    assert list(by) == ["ev", "arbitrage", "steam", "sharp_action"]
    assert by["arbitrage"]["status"] == "active" and by["arbitrage"]["bets"] == 0
    assert by["arbitrage"]["judge"] == "no graded bets in this window"
    assert by["sharp_action"]["status"] == "idle: no splits source is configured"
    steam = by["steam"]
    assert steam["record"] == "6-0-0" and steam["roi"] == "+93.3%" and steam["judge"] == TOO_FEW
    assert steam["hit_ci"] == "[61.0%, 100.0%]"  # a 6-0 record is far from a sure thing
    assert steam["roi_ci"].startswith("[+") and steam["units"] == "+5.60 u"


def test_splits_use_display_names() -> None:
    (book,) = split_rows({"steam": _six_and_oh()}, "book")
    (market,) = split_rows({"steam": _six_and_oh()}, "market")
    assert book["split"] == "Caesars" and market["split"] == "Run line"
