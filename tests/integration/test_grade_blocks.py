"""The strategies page's figures on both databases: read from the 30-day grade blocks they equal
the figures read from the day rollups and a scan of the raw grades, for windows spanning
several blocks with ragged edges, before and after a late grade lands inside a stored block."""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from app.models import Grade, Recommendation, RollupGradeDayBlock, RollupGradeSplitBlock
from app.queries.strategies import clv_histogram, grade_days, strategy_charts
from app.queries.strategy_stats import strategy_stats
from app.rollups.grade_days import CLV_BINS, CLV_MAX, CLV_MIN, clv_bin_edges
from app.rollups.keeper import refresh_all
from app.rollups.slices import BLOCK, DAY, floor_to

NOW = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)
STRATEGIES = ("ev", "steam", "stale_line")
BOOKS = ("fanduel", "draftkings", "pinnacle")
MARKETS = ("h2h", "spreads", "totals")
# several whole blocks with ragged edges: a partial first day, a block cut at each end
WINDOWS = (
    NOW - timedelta(days=97, hours=7),
    NOW - timedelta(days=61, hours=15),
    datetime(2026, 1, 1, tzinfo=UTC),  # the season: it starts before the first grade
    None,  # all time
)
BLOCK_TABLES = (RollupGradeDayBlock, RollupGradeSplitBlock)


def _grade(s, rng: random.Random, at: datetime, i: int) -> None:
    rec = Recommendation(
        bet_key=f"b{i}",
        strategy=rng.choice(STRATEGIES),
        game_key=f"g{i}",
        market=rng.choice(MARKETS),
        side="home",
        book=rng.choice(BOOKS),
        price=rng.choice([-120, 105, 140]),
        ev=0.03,
        stake_units=rng.choice([0.5, 1.0, 2.0]),
        status="graded",
        created_at=at - timedelta(hours=3),
        updated_at=at,
    )
    s.add(rec)
    s.flush()
    result = rng.choice(["win", "loss", "loss", "push", "void"])
    stake = rec.stake_units
    s.add(
        Grade(
            recommendation_id=rec.id,
            strategy=rec.strategy,
            strategies=[rec.strategy],
            result=result,
            stake_units=stake,
            profit_units={"win": stake * 0.95, "loss": -stake}.get(result, 0.0),
            clv=rng.choice([None, rng.gauss(0.01, 0.06)]),  # both tails and the inside
            graded_at=at,
        )
    )


def _seed(db, n: int = 420) -> None:
    """Grades over 130 days up to NOW (voids, pushes, grades without a close)."""
    rng = random.Random(17)
    with db.session() as s:
        for i in range(n):
            _grade(s, rng, NOW - timedelta(days=rng.uniform(0, 130)), i)


def _scan(db, since: datetime | None) -> tuple[dict, dict]:
    """Per (strategy, book, market) sums and per strategy CLV histogram from every grade."""
    inner = [lo for lo, _ in clv_bin_edges()[1:]] + [CLV_MAX]
    sums: dict = {}
    hist: dict = {}
    with db.session() as s:
        rows = s.execute(
            select(Grade, Recommendation.book, Recommendation.market).join(Recommendation)
        )
        first_day = floor_to(since, DAY) if since is not None else None
        for g, book, market in rows:
            # the charts count whole days from the one `since` falls in, the statistics
            # the grades from `since` on
            if g.clv is not None and (first_day is None or g.graded_at >= first_day):
                b = 0 if g.clv < CLV_MIN else min(bisect_right(inner, g.clv), CLV_BINS - 1)
                hist.setdefault(g.strategy, [0] * CLV_BINS)[b] += 1
            if since is not None and g.graded_at < since:
                continue
            if g.result == "void":
                continue
            t = sums.setdefault((g.strategy, book, market), [0, 0, 0, 0, 0.0, 0.0, 0, 0.0])
            t[0] += 1
            t[1] += g.result == "win"
            t[2] += g.result == "loss"
            t[3] += g.result == "push"
            t[4] += g.stake_units
            t[5] += g.profit_units
            if g.clv is not None:
                t[6] += 1
                t[7] += g.clv
    return sums, hist


def _round(values) -> list:
    return [round(v, 6) if isinstance(v, float) else v for v in values]


def _read(db, since: datetime | None) -> tuple[dict, dict, dict, list]:
    """As the page reads them: the statistics (per strategy by book and by market, to compare
    with the scan), the CLV histogram and the per-day chart rows."""
    names = ("bets", "wins", "losses", "pushes", "staked", "units", "clv_n", "clv_sum")
    with db.session() as s:
        stats = strategy_stats(s, since, now=NOW)
        charts = strategy_charts(s, NOW, since)
    totals = {k: _round([asdict(v.total)[n] for n in names]) for k, v in stats.items()}
    every = {
        (k, split, name): _round(asdict(part).values())
        for k, v in stats.items()
        for split, parts in (("book", v.by_book), ("market", v.by_market))
        for name, part in parts.items()
    }
    days = sorted(  # within a day, the strategies come in no particular order
        (d["day"], d["strategy"], round(d["units"], 6), d["clv_n"], round(d["clv_sum"], 6))
        for d in charts.days
    )
    return totals, every, charts.clv_bins, days


def _scan_totals(scanned: dict) -> dict:
    out: dict = {}
    for (strategy, _, _), v in scanned.items():
        t = out.setdefault(strategy, [0, 0, 0, 0, 0.0, 0.0, 0, 0.0])
        for i, x in enumerate(v):
            t[i] += x
    return {k: _round(v) for k, v in out.items()}


def _days_histogram(db, since: datetime | None) -> dict:
    """The CLV histogram summed from the day rows (the day rollup's read, no blocks)."""
    with db.session() as s:
        days = grade_days(s, NOW, since)
    return clv_histogram(days)


def _check(db) -> list:
    """Every window's figures equal the scan's and the day rows'; the figures, to compare."""
    out = []
    for since in WINDOWS:
        got = _read(db, since)
        scanned, hist = _scan(db, since)
        assert got[0] == _scan_totals(scanned), since
        assert got[2] == hist == _days_histogram(db, since), since
        out.append(got)
    return out


def _blocks(db) -> dict[str, int]:
    with db.session() as s:
        return {
            m.__tablename__: s.scalar(
                select(func.count(func.distinct(m.block))).where(m.strategy == "*")
            )
            for m in BLOCK_TABLES
        }


def test_figures_from_blocks_equal_days_and_the_raw_grades(make_app) -> None:
    db = make_app(rollup_keeper=False).extensions["dugout.db"]
    _seed(db)
    from_ledger = _check(db)  # nothing stored: every day summed from the grades
    assert _blocks(db) == {m.__tablename__: 0 for m in BLOCK_TABLES}

    refresh_all(db.sessionmaker, NOW)
    assert min(_blocks(db).values()) >= 4  # the settled blocks since the first grade
    from_blocks = _check(db)
    assert from_blocks == from_ledger

    with db.session() as s:  # forget the blocks: the same figures from the day rows alone
        for m in BLOCK_TABLES:
            s.execute(delete(m))
    assert _check(db) == from_blocks
    refresh_all(db.sessionmaker, NOW)

    # a late grade lands in a day inside a stored block: the write forgets its block
    late_at = floor_to(NOW - timedelta(days=75), BLOCK) + timedelta(days=12, hours=5)
    with db.session() as s:
        before = {
            m.__tablename__: s.scalar(
                select(func.count()).where(m.block == floor_to(late_at, BLOCK))
            )
            for m in BLOCK_TABLES
        }
        assert min(before.values()) > 0
        _grade(s, random.Random(5), late_at, 10_000)
        s.flush()
        late = s.scalars(select(Grade).where(Grade.graded_at == late_at)).one()
        late.result, late.profit_units, late.clv = "win", late.stake_units * 3.0, 0.0413
    with db.session() as s:
        for m in BLOCK_TABLES:
            left = s.scalar(select(func.count()).where(m.block == floor_to(late_at, BLOCK)))
            assert left == 0, m.__tablename__
    changed = _check(db)
    assert changed != from_blocks
    refresh_all(db.sessionmaker, NOW)
    assert min(_blocks(db).values()) >= 4  # stored again, from the days stored again
    assert _check(db) == changed
