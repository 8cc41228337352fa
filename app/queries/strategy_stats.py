"""Strategy results with honest statistics: per strategy (and split by book and by market)
bets, W-L-P, units, ROI with a 95 % interval, hit rate with its Wilson interval, average CLV
with its interval, over a window, from grouped SQL sums: settled days from the split rollup
(`app.rollups.grade_splits`), the rest from the grades.

A bet several strategies flagged counts once, for the strategy credited with it (the signal
with the highest EV, as grading attributes it). Voids are left out: no money was at risk.

Intervals (normal approximations, 95 %):
- ROI = sum(profit) / sum(stake), a ratio estimator: var = n/(n-1) * sum((p_i - ROI s_i)^2)
  / (sum s)^2, expanded as sum(p^2) - 2 ROI sum(p s) + ROI^2 sum(s^2) so SQL sums suffice.
- hit rate W / (W + L): Wilson score interval.
- average CLV: mean +/- 1.96 sd / sqrt(n), sd from sum(clv) and sum(clv^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from app.db import utcnow
from app.rollups import grade_blocks
from app.rollups import grade_splits as splits
from app.rollups.grade_days import first_day
from app.rollups.slices import DAY, aware, ceil_to, floor_to, settled_before

Z95 = 1.959964
MIN_BETS_TO_JUDGE = 30  # below this a record says more about luck than about the strategy
WINDOWS: dict[str, str] = {"7d": "7 days", "30d": "30 days", "season": "season", "all": "all"}


def window_start(window: str, now: datetime) -> datetime | None:
    """The first grading moment a window counts (None: all time). The season is the calendar
    year in UTC (MLB's regular season and postseason fall inside one)."""
    if window == "7d":
        return now - timedelta(days=7)
    if window == "30d":
        return now - timedelta(days=30)
    if window == "season":
        return datetime(now.astimezone(UTC).year, 1, 1, tzinfo=UTC)
    return None


@dataclass(slots=True)
class ResultSums:
    """Additive sums of a set of graded bets (so splits add up to their strategy)."""

    bets: int = 0
    wins: int = 0
    losses: int = 0
    pushes: int = 0
    staked: float = 0.0
    units: float = 0.0
    units_sq: float = 0.0  # sum(profit^2)
    units_stake: float = 0.0  # sum(profit * stake)
    stake_sq: float = 0.0  # sum(stake^2)
    clv_n: int = 0
    clv_sum: float = 0.0
    clv_sq: float = 0.0

    def add(self, other: ResultSums) -> None:
        """Add another set's sums to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def roi(self) -> float | None:
        """Profit over amount staked."""
        return self.units / self.staked if self.staked else None

    @property
    def roi_interval(self) -> tuple[float, float] | None:
        """95 % interval of the ROI (ratio estimator), None under two bets."""
        roi = self.roi
        if roi is None or self.bets < 2:
            return None
        resid = self.units_sq - 2 * roi * self.units_stake + roi * roi * self.stake_sq
        var = max(resid, 0.0) * self.bets / (self.bets - 1) / (self.staked * self.staked)
        half = Z95 * math.sqrt(var)
        return roi - half, roi + half

    @property
    def hit_rate(self) -> float | None:
        """W / (W + L); pushes excluded."""
        decided = self.wins + self.losses
        return self.wins / decided if decided else None

    @property
    def hit_interval(self) -> tuple[float, float] | None:
        """Wilson score 95 % interval of the hit rate."""
        return wilson(self.wins, self.wins + self.losses)

    @property
    def avg_clv(self) -> float | None:
        """Mean price CLV of the bets with a close."""
        return self.clv_sum / self.clv_n if self.clv_n else None

    @property
    def clv_interval(self) -> tuple[float, float] | None:
        """95 % interval of the mean CLV, None under two closes."""
        return mean_interval(self.clv_n, self.clv_sum, self.clv_sq)

    @property
    def judged(self) -> bool:
        """Enough bets for the figures to say something about the strategy."""
        return self.bets >= MIN_BETS_TO_JUDGE


def wilson(successes: int, n: int) -> tuple[float, float] | None:
    """Wilson score 95 % interval of a proportion (None for no trials)."""
    if n <= 0:
        return None
    p = successes / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(n: int, total: float, squares: float) -> tuple[float, float] | None:
    """95 % normal interval of a mean from its count, sum and sum of squares."""
    if n < 2:
        return None
    mean = total / n
    var = max(squares - n * mean * mean, 0.0) / (n - 1)
    half = Z95 * math.sqrt(var / n)
    return mean - half, mean + half


@dataclass(slots=True)
class StrategyStats:
    """One strategy's results in a window, in total and split by book and by market."""

    strategy: str
    total: ResultSums = field(default_factory=ResultSums)
    by_book: dict[str, ResultSums] = field(default_factory=dict)
    by_market: dict[str, ResultSums] = field(default_factory=dict)


def strategy_stats(
    session: Session,
    since: datetime | None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, StrategyStats]:
    """Per strategy credited, the graded bets (voids left out) graded in [since, until): whole
    settled days from the split rollup (its 30-day blocks where a window holds whole ones),
    the window's partial first day and the days not settled yet (before `now`'s) summed from
    the grades, so the figures are a scan's."""
    out: dict[str, StrategyStats] = {}
    first = first_day(session)
    if first is None:
        return out
    since = aware(since) if since is not None else None
    until = aware(until) if until is not None else None
    lo = max(first, ceil_to(since, DAY)) if since is not None else first
    hi = settled_before(now or utcnow(), DAY)
    if until is not None:
        hi = min(hi, floor_to(until, DAY))
    sums: splits.Sums = {}
    if lo < hi:
        grade_blocks.split_sums(session, lo, hi, first, sums)
        splits.ledger_sums(session, [(since, lo), (hi, until)], sums)
    else:
        splits.ledger_sums(session, [(since, until)], sums)
    for (strategy, book, market), values in sorted(sums.items()):
        part = ResultSums(**values)  # type: ignore[arg-type]
        stats = out.setdefault(strategy, StrategyStats(strategy))
        stats.total.add(part)
        stats.by_book.setdefault(book, ResultSums()).add(part)
        stats.by_market.setdefault(market, ResultSums()).add(part)
    return out
