"""The quota plan for a metered odds feed: when to spend credits, pure and clock-driven.

The Odds API charges markets x regions credits per `/odds` request and sells credits by the
month. The plan polls often just before first pitch (where lines move and the close is set),
less often hours ahead, rarely when no game is due, and stretches every interval by one
factor when the credits left (minus a reserve that is never spent) would not last at that
pace until the quota resets. Inputs: the quota headers' state, the day's first pitches and a
clock; output: whether to poll now and when next. No I/O here: the collect stage reads the
inputs from the database and the scheduler may ask the same question.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class QuotaPlan:
    """Credits per month, the reserve never spent, the reset day, and the cadence bands."""

    monthly_credits: int = 20_000
    reserve_credits: int = 1_000
    reset_day: int = 1  # day of the month (UTC) the quota resets
    credits_per_poll: int = 3  # markets x regions
    hot_interval_s: float = 30.0  # within hot_window_s before a first pitch
    hot_window_s: float = 1800.0
    warm_interval_s: float = 180.0  # within warm_window_s
    warm_window_s: float = 3 * 3600.0
    cool_interval_s: float = 1200.0  # within horizon_s (lines are up)
    horizon_s: float = 12 * 3600.0
    idle_interval_s: float = 6 * 3600.0  # no first pitch within the horizon
    alert_days_before: float = 3.0  # alert when the credits would run out this long before reset

    def __post_init__(self) -> None:
        """Refuse a plan that cannot work, naming the setting."""
        if self.monthly_credits <= 0:
            raise ValueError("DUGOUT_ODDS_API_MONTHLY_CREDITS must be positive")
        if not 0 <= self.reserve_credits < self.monthly_credits:
            raise ValueError(
                "DUGOUT_ODDS_API_RESERVE_CREDITS must be >= 0 and below the monthly credits"
            )
        if not 1 <= self.reset_day <= 28:
            raise ValueError("DUGOUT_ODDS_API_RESET_DAY must be 1..28")
        if self.credits_per_poll < 1 or self.hot_interval_s <= 0:
            raise ValueError("the quota plan needs a positive poll cost and hot interval")


@dataclass(frozen=True, slots=True)
class PollDecision:
    """Poll now or not, when the next poll is due, and the sentence that explains it."""

    poll: bool
    next_at: datetime | None
    interval_s: float | None
    stretch: float
    reason: str


def next_reset(now: datetime, reset_day: int) -> datetime:
    """The next quota reset strictly after `now`: `reset_day` 00:00 UTC of this or next month."""
    this = datetime(now.year, now.month, reset_day, tzinfo=UTC)
    if this > now:
        return this
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, min(reset_day, calendar.monthrange(year, month)[1]), tzinfo=UTC)


def band_interval(plan: QuotaPlan, now: datetime, first_pitches: Iterable[datetime]) -> float:
    """The unstretched interval at `now`: by the time to the next first pitch still ahead."""
    ahead = [(t - now).total_seconds() for t in first_pitches if t > now]
    if not ahead:
        return plan.idle_interval_s
    soonest = min(ahead)
    if soonest <= plan.hot_window_s:
        return plan.hot_interval_s
    if soonest <= plan.warm_window_s:
        return plan.warm_interval_s
    if soonest <= plan.horizon_s:
        return plan.cool_interval_s
    return plan.idle_interval_s


def polls_per_day(plan: QuotaPlan, start: datetime, first_pitches: Sequence[datetime]) -> float:
    """Unstretched polls over the 24 h from `start`, summed in 5-minute steps (one sweep)."""
    pitches = sorted(t for t in first_pitches if t > start)
    step, total, nxt = 300.0, 0.0, 0
    for i in range(288):
        moment = start + timedelta(seconds=i * step)
        while nxt < len(pitches) and pitches[nxt] <= moment:
            nxt += 1
        total += step / band_interval(plan, moment, pitches[nxt : nxt + 1])
    return total


def budget(plan: QuotaPlan, remaining: int | None, used: int | None) -> int:
    """Credits the plan may still spend: what is left (the monthly credits when the feed has
    not said yet) minus the reserve."""
    if remaining is None:
        remaining = plan.monthly_credits - (used or 0)
    return remaining - plan.reserve_credits


def plan_poll(
    plan: QuotaPlan,
    now: datetime,
    first_pitches: Sequence[datetime],
    last_poll_at: datetime | None,
    remaining: int | None,
    used: int | None = None,
) -> PollDecision:
    """Whether to spend a poll now. Stretch = max(1, need / budget), where need is a day's
    unstretched polls (from the next 24 h of first pitches) times the days to reset."""
    spendable = budget(plan, remaining, used)
    if spendable < plan.credits_per_poll:
        return PollDecision(
            False,
            None,
            None,
            float("inf"),
            f"quota reserve reached: {remaining} credits left, "
            f"{plan.reserve_credits} are kept in reserve",
        )
    days_left = max((next_reset(now, plan.reset_day) - now).total_seconds() / DAY_S, 1 / 24)
    need = polls_per_day(plan, now, first_pitches) * plan.credits_per_poll * days_left
    stretch = max(1.0, need / spendable)
    interval = band_interval(plan, now, first_pitches) * stretch
    step = timedelta(seconds=interval)
    due = last_poll_at is None or now >= last_poll_at + step
    next_at = now + step if due or last_poll_at is None else last_poll_at + step
    why = (
        f"every {interval:.0f} s now (x{stretch:.2f} to last {days_left:.1f} days on "
        f"{spendable} spendable credits)"
    )
    return PollDecision(due, next_at, interval, stretch, why)


@dataclass(frozen=True, slots=True)
class QuotaOverview:
    """What the overview shows: credits left, burn per day, projected run-out, the reset."""

    source: str
    credits_left: int | None
    monthly_credits: int
    reserve_credits: int
    burn_per_day: float | None
    run_out_at: datetime | None  # when the credits left reach zero at this burn rate
    reset_at: datetime
    sampled_at: datetime | None

    @property
    def runs_out_before_reset(self) -> bool:
        """True when, at this pace, the credits are gone before the quota resets."""
        return self.run_out_at is not None and self.run_out_at < self.reset_at


def burn_rate(samples: Sequence[tuple[datetime, int]]) -> float | None:
    """Credits spent per day from (time, credits left) samples, oldest first: the drop over the
    span (credits that came back at a reset are not negative spend)."""
    if len(samples) < 2:
        return None
    spent = sum(max(0, a[1] - b[1]) for a, b in pairwise(samples))
    span = (samples[-1][0] - samples[0][0]).total_seconds()
    return spent / span * DAY_S if span > 0 else None


def overview(
    plan: QuotaPlan, source: str, now: datetime, samples: Sequence[tuple[datetime, int]]
) -> QuotaOverview:
    """The quota picture from samples of credits left (oldest first)."""
    left = samples[-1][1] if samples else None
    rate = burn_rate(samples)
    run_out = None
    if left is not None and rate:
        run_out = samples[-1][0] + timedelta(days=left / rate)
    return QuotaOverview(
        source,
        left,
        plan.monthly_credits,
        plan.reserve_credits,
        rate,
        run_out,
        next_reset(now, plan.reset_day),
        samples[-1][0] if samples else None,
    )


def alert_reason(plan: QuotaPlan, view: QuotaOverview) -> str | None:
    """Why the quota needs a person now, or None: reserve reached, or run-out before reset."""
    if view.credits_left is None:
        return None
    if view.credits_left <= plan.reserve_credits:
        return f"{view.credits_left} credits left: the reserve is reached, odds polling stopped"
    if view.run_out_at is not None:
        early = (view.reset_at - view.run_out_at).total_seconds() / DAY_S
        if early >= plan.alert_days_before:
            return (
                f"at {view.burn_per_day:.0f} credits a day the {view.credits_left} left run out "
                f"{view.run_out_at:%Y-%m-%d}, {early:.1f} days before the reset"
            )
    return None
