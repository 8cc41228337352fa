"""Strategy performance from the grades: bets, units, ROI, hit rate, average CLV, cumulative units
and the CLV distribution, all derived from one read of graded bets per day and strategy
(`app.rollups.grade_days`: a year of grades costs a few hundred rollup rows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import rollups
from app.db import utcnow


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


def grade_days(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Graded bets per UTC day and strategy, oldest first (see app.rollups.grade_days)."""
    return rollups.grade_days(session, now or utcnow())


def performance_from_days(days: Iterable[Mapping[str, Any]]) -> list[StrategyPerformance]:
    """Each strategy's record summed over its days, by strategy name."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(rollups.GRADE_SUMS, 0))
    for day in days:
        total = sums[day["strategy"]]
        for name in rollups.GRADE_SUMS:
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
    """Per strategy, bets per CLV bin (edges from app.rollups.clv_bin_edges); strategies with
    no closing line captured are left out."""
    bins: dict[str, list[int]] = {}
    for day in days:
        if not day["clv_n"]:
            continue
        counts = bins.setdefault(day["strategy"], [0] * rollups.CLV_BINS)
        for i, n in enumerate(day["clv_bins"]):
            counts[i] += n
    return bins


def strategy_performance(
    session: Session, now: datetime | None = None
) -> list[StrategyPerformance]:
    """Per strategy, every graded bet."""
    return performance_from_days(grade_days(session, now))
