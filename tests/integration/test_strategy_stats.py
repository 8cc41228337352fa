"""Strategy statistics on both databases: the SQL sums give the same figures and intervals as
a direct computation over the bets, splits add up, windows and voids are honoured."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import Grade, Recommendation, RollupGradeSplit
from app.queries.strategy_stats import (
    MIN_BETS_TO_JUDGE,
    Z95,
    mean_interval,
    strategy_stats,
    wilson,
    window_start,
)
from app.rollups.grade_splits import INTEGER_SUMS, SPLIT_SUMS
from app.rollups.keeper import refresh_all

NOW = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)
BOOKS = ("fanduel", "draftkings", "williamhill_us")
MARKETS = ("h2h", "spreads", "totals")


def _bets(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        result = rng.choice(["win", "win", "loss", "loss", "loss", "push", "void"])
        stake = rng.choice([0.5, 1.0, 1.5, 2.0])
        price = rng.choice([-120, -110, 105, 140])
        dec = 1 + (price / 100 if price > 0 else 100 / -price)
        profit = stake * (dec - 1) if result == "win" else -stake if result == "loss" else 0.0
        out.append(
            {
                "strategy": rng.choice(["ev", "steam"]),
                "book": BOOKS[i % 3],
                "market": MARKETS[(i // 3) % 3],
                "result": result,
                "stake": stake,
                "profit": profit,
                "clv": rng.gauss(0.01, 0.03) if i % 4 else None,
                "graded_at": NOW - timedelta(days=rng.randint(0, 40), minutes=i),
            }
        )
    return out


@pytest.fixture
def graded(db):
    return _store(db, _bets(240))


def _store(db, bets: list[dict]) -> list[dict]:
    """Each bet as a recommendation and its grade."""
    with db.session() as s:
        for i, b in enumerate(bets):
            rec = Recommendation(
                bet_key=f"b{i}",
                strategy=b["strategy"],
                strategies=[b["strategy"]],
                game_key=f"g{i}",
                market=b["market"],
                side="home",
                book=b["book"],
                price=100,
                ev=0.03,
                stake_units=b["stake"],
                status="graded",
            )
            s.add(rec)
            s.flush()
            s.add(
                Grade(
                    recommendation_id=rec.id,
                    strategy=b["strategy"],
                    strategies=[b["strategy"]],
                    result=b["result"],
                    stake_units=b["stake"],
                    profit_units=b["profit"],
                    clv=b["clv"],
                    graded_at=b["graded_at"],
                )
            )
    return bets


def _direct(bets: list[dict]) -> dict:
    """The figures computed straight from the bets, as a statistician would."""
    live = [b for b in bets if b["result"] != "void"]
    staked = sum(b["stake"] for b in live)
    units = sum(b["profit"] for b in live)
    roi = units / staked
    n = len(live)
    var = sum((b["profit"] - roi * b["stake"]) ** 2 for b in live) * n / (n - 1) / staked**2
    clvs = [b["clv"] for b in live if b["clv"] is not None]
    mean = sum(clvs) / len(clvs)
    sd = math.sqrt(sum((c - mean) ** 2 for c in clvs) / (len(clvs) - 1))
    return {
        "n": n,
        "wlp": tuple(sum(b["result"] == r for b in live) for r in ("win", "loss", "push")),
        "units": units,
        "roi": (roi - Z95 * math.sqrt(var), roi + Z95 * math.sqrt(var)),
        "clv": (mean - Z95 * sd / math.sqrt(len(clvs)), mean + Z95 * sd / math.sqrt(len(clvs))),
    }


def test_sql_sums_match_a_direct_computation(db, graded) -> None:
    with db.session() as s:
        stats = strategy_stats(s, None)
    for name in ("ev", "steam"):
        got, want = stats[name].total, _direct([b for b in graded if b["strategy"] == name])
        assert got.bets == want["n"] and (got.wins, got.losses, got.pushes) == want["wlp"]
        assert got.units == pytest.approx(want["units"])
        assert got.roi_interval == pytest.approx(want["roi"])
        assert got.clv_interval == pytest.approx(want["clv"])
        lo, hi = got.hit_interval
        assert lo < got.hit_rate < hi
        assert got.judged == (got.bets >= MIN_BETS_TO_JUDGE)


def test_splits_add_up_and_windows_cut(db, graded) -> None:
    with db.session() as s:
        every = strategy_stats(s, None)
        week = strategy_stats(s, window_start("7d", NOW), NOW + timedelta(seconds=1))
    ev = every["ev"]
    assert sum(p.bets for p in ev.by_book.values()) == ev.total.bets
    assert sum(p.units for p in ev.by_market.values()) == pytest.approx(ev.total.units)
    assert set(ev.by_book) == set(BOOKS) and set(ev.by_market) == set(MARKETS)
    in_week = [
        b
        for b in graded
        if b["strategy"] == "ev"
        and b["result"] != "void"
        and b["graded_at"] >= NOW - timedelta(days=7)
    ]
    assert week["ev"].total.bets == len(in_week) < ev.total.bets


def _scan(bets: list[dict], since: datetime | None, until: datetime | None) -> dict:
    """Every (strategy, book, market)'s sums straight from the bets, voids left out."""
    out: dict = {}
    for b in bets:
        if b["result"] == "void" or (since and b["graded_at"] < since):
            continue
        if until and b["graded_at"] >= until:
            continue
        t = out.setdefault((b["strategy"], b["book"], b["market"]), dict.fromkeys(SPLIT_SUMS, 0))
        stake, profit, clv = b["stake"], b["profit"], b["clv"]
        t["bets"] += 1
        t["wins"] += b["result"] == "win"
        t["losses"] += b["result"] == "loss"
        t["pushes"] += b["result"] == "push"
        t["staked"] += stake
        t["units"] += profit
        t["units_sq"] += profit * profit
        t["units_stake"] += profit * stake
        t["stake_sq"] += stake * stake
        if clv is not None:
            t["clv_n"] += 1
            t["clv_sum"] += clv
            t["clv_sq"] += clv * clv
    return out


def _splits(stats: dict) -> dict:
    """The stats keyed (strategy, "book" | "market" | "total", value)."""
    out: dict = {}
    for name, st in stats.items():
        out.update({(name, "book", k): v for k, v in st.by_book.items()})
        out.update({(name, "market", k): v for k, v in st.by_market.items()})
        out[(name, "total", "")] = st.total
    return out


def _expected(scan: dict) -> dict:
    out: dict = {}
    for (name, book, market), sums in scan.items():
        for key in ((name, "book", book), (name, "market", market), (name, "total", "")):
            t = out.setdefault(key, dict.fromkeys(SPLIT_SUMS, 0))
            for k, v in sums.items():
                t[k] += v
    return out


def _assert_same(stats: dict, scan: dict) -> None:
    got, want = _splits(stats), _expected(scan)
    assert set(got) == set(want)
    for key, sums in got.items():
        for name in SPLIT_SUMS:
            value, expected = getattr(sums, name), want[key][name]
            if name in INTEGER_SUMS:
                assert value == expected, (key, name)
            else:
                assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), (key, name)


WINDOWS_CUT = [
    (None, None),
    (NOW - timedelta(days=7), None),  # a partial first day: 18:00 onwards
    (NOW - timedelta(days=30, hours=5), NOW - timedelta(days=2, hours=3)),
    (NOW - timedelta(hours=3), None),  # inside the day not settled yet
]


def test_rollup_backed_stats_are_a_scan_of_the_grades(make_app) -> None:
    db = make_app(rollup_keeper=False).extensions["dugout.db"]  # refreshed by hand at NOW
    graded = _store(db, _bets(240))
    with db.session() as s:  # nothing stored: every day summed from the grades
        assert s.scalar(select(func.count()).select_from(RollupGradeSplit)) == 0
        ledger = [strategy_stats(s, a, b, now=NOW) for a, b in WINDOWS_CUT]
    for (a, b), stats in zip(WINDOWS_CUT, ledger, strict=True):
        _assert_same(stats, _scan(graded, a, b))
    refresh_all(db.sessionmaker, NOW)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RollupGradeSplit)) > 40  # days stored
        rolled = [strategy_stats(s, a, b, now=NOW) for a, b in WINDOWS_CUT]
    for (a, b), stats in zip(WINDOWS_CUT, rolled, strict=True):
        _assert_same(stats, _scan(graded, a, b))

    # an old loss becomes a win: its stored day is forgotten and the figures follow
    with db.session() as s:
        old = s.scalars(
            select(Grade).where(Grade.result == "loss").order_by(Grade.graded_at).limit(1)
        ).one()
        old.result, old.profit_units = "win", old.stake_units
        changed = next(b for b in graded if b["graded_at"] == old.graded_at)
    changed.update(result="win", profit=changed["stake"])
    for _ in ("before the keeper's refresh", "after it"):
        with db.session() as s:
            for a, b in WINDOWS_CUT:
                _assert_same(strategy_stats(s, a, b, now=NOW), _scan(graded, a, b))
        refresh_all(db.sessionmaker, NOW)


def test_interval_formulas() -> None:
    lo, hi = wilson(6, 6)  # a 6-0 record: the interval still reaches far below 100 %
    assert hi == 1.0 and lo == pytest.approx(0.6097, abs=1e-3)
    assert wilson(0, 0) is None and mean_interval(1, 0.1, 0.01) is None
    lo, hi = mean_interval(4, 0.08, 0.0024)  # values 0.0, 0.02, 0.02, 0.04
    assert (lo + hi) / 2 == pytest.approx(0.02)
    assert window_start("season", NOW) == datetime(2026, 1, 1, tzinfo=UTC)
    assert window_start("all", NOW) is None
