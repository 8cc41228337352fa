"""Strategy performance from the grades: bets, units, ROI, hit rate, average CLV, cumulative units
and the CLV distribution, all derived from one read of graded bets per day and strategy
(settled days from `app.rollups.grade_days`: a year of grades costs a few hundred rows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.db import utcnow
from app.rollups import grade_blocks
from app.rollups import grade_days as rollup
from app.rollups.slices import aware, floor_to, settled_before


@dataclass(frozen=True, slots=True)
class StrategyPerformance:
    """One strategy's settled record."""

    strategy: str
    bets: int  # settled, voids excluded
    wins: int
    losses: int
    pushes: int
    staked: float
    units: float  # profit in units
    avg_clv: float | None

    @property
    def roi(self) -> float | None:
        """Profit over amount staked."""
        return self.units / self.staked if self.staked else None

    @property
    def hit_rate(self) -> float | None:
        """W / (W + L); pushes excluded."""
        decided = self.wins + self.losses
        return self.wins / decided if decided else None


def grade_days(
    session: Session, now: datetime | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Every grade summed per UTC day and strategy (bets, wins, losses, pushes, staked, units,
    clv_sum, clv_n, clv_bins), oldest first, from the day `since` falls in (all for None):
    settled days from the rollup, the last SETTLE and today from the grades table."""
    lo = rollup.first_day(session)
    if lo is None:
        return []
    if since is not None:
        lo = max(lo, floor_to(aware(since), rollup.DAY))
    hi = settled_before(now or utcnow(), rollup.DAY)
    out = rollup.settled_rows(session, lo, hi) if lo < hi else []
    tail = rollup.rows_from_ledger(session, max(lo, hi), None, markers=False)
    return out + sorted(tail, key=lambda r: r["day"])


@dataclass(frozen=True, slots=True)
class StrategyCharts:
    """What the strategies page draws over a window: its days and the CLV histogram."""

    days: list[dict[str, Any]]  # per UTC day and strategy, oldest first (bins may be empty)
    clv_bins: dict[str, list[int]]  # per strategy with a close, bets per CLV bin


def strategy_charts(
    session: Session, now: datetime | None = None, since: datetime | None = None
) -> StrategyCharts:
    """The days `grade_days` reads for the window from the day `since` falls in (all for
    None), and their CLV histogram (what `clv_histogram` sums from them) read from the
    30-day blocks inside the window and the days at its edges, so the days need not carry
    a year of bins."""
    first = rollup.first_day(session)
    if first is None:
        return StrategyCharts([], {})
    lo = first
    if since is not None:
        lo = max(lo, floor_to(aware(since), rollup.DAY))
    hi = settled_before(now or utcnow(), rollup.DAY)
    days, bins = grade_blocks.chart_rows(session, lo, hi, first)
    tail = sorted(
        rollup.rows_from_ledger(session, max(lo, hi), None, markers=False),
        key=lambda r: r["day"],
    )
    rollup.add_bins(bins, tail)
    return StrategyCharts(days + tail, bins)


def performance_from_days(days: Iterable[Mapping[str, Any]]) -> list[StrategyPerformance]:
    """Each strategy's record summed over its days, by strategy name."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(rollup.GRADE_SUMS, 0))
    for day in days:
        total = sums[day["strategy"]]
        for name in rollup.GRADE_SUMS:
            total[name] += day[name] or 0
    return [
        StrategyPerformance(
            strategy,
            int(t["bets"]),
            int(t["wins"]),
            int(t["losses"]),
            int(t["pushes"]),
            float(t["staked"]),
            float(t["units"]),
            t["clv_sum"] / t["clv_n"] if t["clv_n"] else None,
        )
        for strategy, t in sorted(sums.items())
    ]


def cumulative_units(days: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[datetime, float]]]:
    """Per strategy, units won accumulated day by day."""
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for day in sorted(days, key=lambda d: d["day"]):
        points = series[day["strategy"]]
        points.append((day["day"], (points[-1][1] if points else 0.0) + float(day["units"] or 0)))
    return dict(series)


def clv_histogram(days: Iterable[Mapping[str, Any]]) -> dict[str, list[int]]:
    """Per strategy, bets per CLV bin (edges from app.rollups.grade_days.clv_bin_edges); strategies with
    no closing line captured are left out."""
    bins: dict[str, list[int]] = {}
    rollup.add_bins(bins, days)
    return bins


def strategy_performance(
    session: Session, now: datetime | None = None
) -> list[StrategyPerformance]:
    """Per strategy, every graded bet."""
    return performance_from_days(grade_days(session, now))


def clv_by_day(days: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[datetime, float, int]]]:
    """Per strategy, each day's (day, average price CLV, bets with a close), oldest first."""
    series: dict[str, list[tuple[datetime, float, int]]] = defaultdict(list)
    for day in sorted(days, key=lambda d: d["day"]):
        if day["clv_n"]:
            series[day["strategy"]].append(
                (day["day"], float(day["clv_sum"]) / day["clv_n"], int(day["clv_n"]))
            )
    return dict(series)
