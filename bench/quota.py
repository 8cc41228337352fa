"""Quota benchmark: a month of MLB first pitches against The Odds API's credits, at the default
plan (app.pipelines.quota.QuotaPlan, 20,000 credits, 1,000 reserve) versus a fixed 60 s cadence.

The month is July 2024's shape: 15 games a day with MLB's usual first-pitch slots (the demo
calendar's), 9 on Mondays and Thursdays, no games 15-18 July (the All-Star break). Lines move
near first pitch: each game gets a price change every 90 s (on average) in its last 30 min;
detection latency is the wait from a change to the next poll (a change after the credits ran
out is never detected). Prints figures; asserts nothing. Run: .venv/bin/python bench/quota.py
"""

from __future__ import annotations

import random
import statistics
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.pipelines.quota import QuotaPlan, plan_poll
from app.pipelines.sources.demo_calendar import build_calendar

START = datetime(2024, 7, 1, tzinfo=UTC)
END = datetime(2024, 8, 1, tzinfo=UTC)  # the quota resets on the 1st
TICK = timedelta(seconds=10)  # the collection job's interval
ALL_STAR = {date(2024, 7, d) for d in (15, 16, 17, 18)}


def month_schedule(rng: random.Random) -> list[datetime]:
    """First pitches of the month, sorted."""
    pitches: list[datetime] = []
    day = START.date()
    while day < END.date():
        if day not in ALL_STAR:
            games = build_calendar(random.Random(f"bench:{day}"), day, 1)
            keep = 9 if day.weekday() in (0, 3) else len(games)
            chosen = rng.sample(games, min(keep, len(games)))
            pitches += [datetime.fromtimestamp(g.commence, UTC) for g in chosen]
        day += timedelta(days=1)
    return sorted(pitches)


def line_changes(rng: random.Random, pitches: list[datetime]) -> list[datetime]:
    """Price changes in the last 30 minutes before each first pitch (Poisson, 90 s mean)."""
    changes = []
    for pitch in pitches:
        t = pitch - timedelta(minutes=30)
        while True:
            t += timedelta(seconds=rng.expovariate(1 / 90))
            if t >= pitch:
                break
            changes.append(t)
    return sorted(changes)


def simulate(plan: QuotaPlan, pitches: list[datetime], fixed_s: float | None) -> dict[str, object]:
    """Polls over the month: the plan, or a fixed cadence spending until the credits are gone."""
    credits, polls, last = plan.monthly_credits, [], None
    run_out = None
    i = 0
    now = START
    check = START  # the plan is asked at least every minute (its answer cannot change sooner)
    while now < END:
        while i < len(pitches) and pitches[i] <= now:
            i += 1
        if fixed_s is None:
            due = False
            if now >= check:
                decision = plan_poll(plan, now, pitches[i : i + 40], last, credits)
                due = decision.poll
                nxt = decision.next_at or now + timedelta(hours=1)
                check = min(nxt, now + timedelta(seconds=60)) if not due else now + TICK
        else:
            due = last is None or (now - last).total_seconds() >= fixed_s
            if credits < plan.credits_per_poll:
                due, run_out = False, run_out or now
        if due:
            credits -= plan.credits_per_poll
            polls.append(now)
            last = now
        now += TICK
    return {"polls": polls, "left": credits, "run_out": run_out}


def latencies(changes: list[datetime], polls: list[datetime]) -> tuple[list[float], int]:
    """Seconds from each change to the next poll; and how many were never detected."""
    out, j, missed = [], 0, 0
    for change in changes:
        while j < len(polls) and polls[j] < change:
            j += 1
        if j == len(polls):
            missed += 1
        else:
            out.append((polls[j] - change).total_seconds())
    return out, missed


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values."""
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, int(q * 100) - 1)]


def main() -> None:
    rng = random.Random(2024)
    plan = QuotaPlan()
    pitches = month_schedule(rng)
    changes = line_changes(rng, pitches)
    print(f"month: {len(pitches)} games, {len(changes)} price changes in the last 30 min")
    for name, fixed in (("quota plan (default)", None), ("fixed 60 s", 60.0)):
        result = simulate(plan, pitches, fixed)
        polls = result["polls"]
        assert isinstance(polls, list)
        lat, missed = latencies(changes, polls)
        used = plan.monthly_credits - int(result["left"])  # type: ignore[call-overload]
        run_out = result["run_out"]
        print(
            f"{name:22} credits used {used:6d}  left at reset {result['left']:6d}  "
            f"polls {len(polls):6d}  detection near first pitch p50 {pct(lat, 0.5):6.1f} s "
            f"p99 {pct(lat, 0.99):6.1f} s  undetected {missed}/{len(changes)}"
            + (f"  credits gone {run_out:%Y-%m-%d %H:%M}" if run_out else "")
        )


if __name__ == "__main__":
    main()
