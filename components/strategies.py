"""Strategy widgets: the results table with intervals and a sample-size mark, every configured
strategy listed (idle ones with their reason), and the splits by book or market."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.queries.strategies import StrategyPerformance
from app.queries.strategy_stats import MIN_BETS_TO_JUDGE, ResultSums, StrategyStats
from components.formatting import DASH, book_name, interval, market_name, percent, units

TOO_FEW = f"too few bets to judge (under {MIN_BETS_TO_JUDGE})"


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "—"


def performance_rows(perf: Sequence[StrategyPerformance]) -> list[dict[str, Any]]:
    """StrategyPerformance records as table rows."""
    return [
        {
            "strategy": p.strategy,
            "bets": p.bets,
            "W-L-P": f"{p.wins}-{p.losses}-{p.pushes}",
            "units": round(p.units, 2),
            "staked": round(p.staked, 2),
            "ROI": _pct(p.roi),
            "hit rate": _pct(p.hit_rate),
            "avg CLV": _pct(p.avg_clv),
        }
        for p in perf
    ]


def _figures(s: ResultSums) -> dict[str, Any]:
    """One set of results as cells, each estimate beside its 95 % interval."""
    roi = s.roi_interval
    hit = s.hit_interval
    clv = s.clv_interval
    return {
        "bets": s.bets,
        "record": f"{s.wins}-{s.losses}-{s.pushes}",
        "units": units(s.units, signed=True),
        "roi": percent(s.roi, signed=True),
        "roi_ci": interval(*roi, fmt=lambda v: percent(v, signed=True)) if roi else DASH,
        "hit": percent(s.hit_rate),
        "hit_ci": interval(*hit) if hit else DASH,
        "clv": percent(s.avg_clv, 2, signed=True),
        "clv_ci": interval(*clv, fmt=lambda v: percent(v, 2, signed=True)) if clv else DASH,
        "judge": "" if s.judged else TOO_FEW,
    }


STAT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("strategy", "Strategy"),
    ("bets", "Bets"),
    ("record", "W-L-P"),
    ("units", "Units"),
    ("roi", "ROI"),
    ("roi_ci", "ROI 95% interval"),
    ("hit", "Hit rate"),
    ("hit_ci", "Hit 95% interval"),
    ("clv", "Avg CLV"),
    ("clv_ci", "CLV 95% interval"),
    ("judge", "Sample"),
    ("status", "Status"),
)
SPLIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("strategy", "Strategy"),
    ("split", "Split"),
    *STAT_COLUMNS[1:-1],
)


def stats_rows(
    configured: Sequence[str],
    stats: Mapping[str, StrategyStats],
    idle: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Every configured strategy (and any other graded one), even with no bets yet: its
    figures, a sample-size mark, and whether it runs (an idle one says why)."""
    names = list(configured) + sorted(set(stats) - set(configured))
    rows = []
    for name in names:
        found = stats.get(name)
        figures = _figures(found.total if found else ResultSums())
        if not found:
            figures["judge"] = "no graded bets in this window"
        reason = idle.get(name)
        rows.append(
            {"strategy": name, **figures, "status": f"idle: {reason}" if reason else "active"}
        )
    return rows


def split_rows(stats: Mapping[str, StrategyStats], by: str) -> list[dict[str, Any]]:
    """Each strategy's results split by book (display names) or by market."""
    rows = []
    for name in sorted(stats):
        parts = stats[name].by_book if by == "book" else stats[name].by_market
        label = book_name if by == "book" else market_name
        for key, sums in sorted(parts.items(), key=lambda kv: (-kv[1].bets, kv[0])):
            rows.append({"strategy": name, "split": label(key), **_figures(sums)})
    return rows
