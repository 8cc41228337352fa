"""Strategy results with honest statistics: per strategy (and split by book and by market)
bets, W-L-P, units, ROI with a 95 % interval, hit rate with its Wilson interval, average CLV
with its interval, over a window, from one grouped SQL aggregate of the grades.

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

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.models import Grade, Recommendation

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
    session: Session, since: datetime | None, until: datetime | None = None
) -> dict[str, StrategyStats]:
    """Per strategy credited, the graded bets (voids left out) graded in [since, until)."""
    g, r = Grade, Recommendation
    clv = g.clv
    query = (
        select(
            g.strategy,
            r.book,
            r.market,
            func.count(g.id),
            func.sum(case((g.result == "win", 1), else_=0)),
            func.sum(case((g.result == "loss", 1), else_=0)),
            func.sum(case((g.result == "push", 1), else_=0)),
            func.sum(g.stake_units),
            func.sum(g.profit_units),
            func.sum(g.profit_units * g.profit_units),
            func.sum(g.profit_units * g.stake_units),
            func.sum(g.stake_units * g.stake_units),
            func.count(clv),
            func.coalesce(func.sum(clv), 0.0),
            func.coalesce(func.sum(clv * clv), 0.0),
        )
        .join(r, r.id == g.recommendation_id)
        .where(g.result != "void")
        .group_by(g.strategy, r.book, r.market)
    )
    if since is not None:
        query = query.where(g.graded_at >= since)
    if until is not None:
        query = query.where(g.graded_at < until)
    out: dict[str, StrategyStats] = {}
    for strategy, book, market, *sums in session.execute(query):
        ints = [int(v or 0) for v in (*sums[:4], sums[9])]
        floats = [float(v or 0.0) for v in (*sums[4:9], *sums[10:])]
        part = ResultSums(
            bets=ints[0], wins=ints[1], losses=ints[2], pushes=ints[3], clv_n=ints[4],
            staked=floats[0], units=floats[1], units_sq=floats[2], units_stake=floats[3],
            stake_sq=floats[4], clv_sum=floats[5], clv_sq=floats[6],
        )  # fmt: skip
        stats = out.setdefault(strategy, StrategyStats(strategy))
        stats.total.add(part)
        stats.by_book.setdefault(book, ResultSums()).add(part)
        stats.by_market.setdefault(market, ResultSums()).add(part)
    return out
