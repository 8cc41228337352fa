"""Rollups give the same figures as a scan of the ledger, and forget slices whose rows change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from app.analytics import latency_series, success_series
from app.models import PipelineRun, RollupRunBucket, RollupRunDay, RollupSloHour
from app.observability.slo import SLO_BY_NAME, slo_report
from app.queries import pipeline_summaries
from tests.integration.observability.ledger import run

NOW = datetime(2026, 7, 4, 12, 7, tzinfo=UTC)


def history() -> list[PipelineRun]:
    """Ten days of collection runs every 20 minutes, every 25th failed, durations varying."""
    rows, at, i = [], NOW - timedelta(days=10), 0
    while at < NOW:
        i += 1
        rows.append(run(at, "failed" if i % 25 == 0 else "succeeded", duration_ms=100.0 + i % 97))
        at += timedelta(minutes=20)
    return rows


def figures(db) -> tuple:
    with db.session() as s:
        summaries = pipeline_summaries(s, NOW - timedelta(days=7), NOW)
        latency = latency_series(s, NOW, "7d")
        success = success_series(s, NOW, "30d")
        reliability = slo_report(s, SLO_BY_NAME["pipeline_reliability"], NOW).counts
    return summaries, latency, success, reliability


def test_rollups_match_a_fresh_scan_and_follow_changes(db) -> None:
    with db.session() as s:
        s.add_all(history())
    first = figures(db)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RollupRunDay)) > 0
        assert s.scalar(select(func.count()).select_from(RollupRunBucket)) > 0
        assert s.scalar(select(func.count()).select_from(RollupSloHour)) > 0
    assert figures(db) == first  # read back from the rollups: the same figures

    summary = next(x for x in first[0] if x.pipeline == "collection")
    assert summary.runs == 7 * 72 and summary.failed == sum(
        1 for r in history() if r.status == "failed" and r.created_at >= NOW - timedelta(days=7)
    )

    # An old run changes through the ORM, another through a bulk UPDATE, and a late insert
    # lands in a settled day: every figure follows.
    old = NOW - timedelta(days=5)
    with db.session() as s:
        target = s.scalars(select(PipelineRun).where(PipelineRun.started_at >= old).limit(1)).one()
        target.status, target.duration_ms = "failed", 90_000.0
        s.execute(
            update(PipelineRun)
            .where(PipelineRun.started_at >= old - timedelta(hours=2), PipelineRun.started_at < old)
            .values(status="partial")
        )
        s.add(run(NOW - timedelta(days=6, minutes=7), "failed", duration_ms=5000))
    changed = figures(db)
    with db.session() as s:
        for table in (RollupRunDay, RollupRunBucket, RollupSloHour):
            s.execute(table.__table__.delete())
    assert figures(db) == changed  # what a reader recomputing from the ledger sees
    assert changed != first


def grade_history(db) -> None:
    """Ten days of grades for two strategies, a recommendation each; CLV across both tails,
    some missing, some voids."""
    from app.models import Grade, Recommendation

    results = ("win", "loss", "loss", "push", "void", "win", "loss")
    clvs = (0.012, -0.004, None, 0.25, -0.3, 0.0, 0.0999, -0.1)
    with db.session() as s:
        for i in range(10 * 12):
            at = NOW - timedelta(days=10) + timedelta(hours=2 * i)
            strategy = "ev" if i % 3 else "steam"
            rec = Recommendation(
                strategy=strategy,
                game_key=f"g{i}",
                market="h2h",
                side="home",
                book="pinnacle",
                price=110,
                ev=0.03,
                stake_units=1.0 + i % 4,
                created_at=at,
                updated_at=at,
            )
            s.add(rec)
            s.flush()
            result = results[i % len(results)]
            stake = rec.stake_units
            profit = {"win": stake * 1.1, "loss": -stake}.get(result, 0.0)
            s.add(
                Grade(
                    recommendation_id=rec.id,
                    strategy=strategy,
                    result=result,
                    stake_units=stake,
                    profit_units=profit,
                    clv=clvs[i % len(clvs)],
                    graded_at=at,
                )
            )


def scan_grades(db) -> tuple[dict, dict]:
    """Per strategy record and CLV histogram straight from the grades, the slow way."""
    from bisect import bisect_right

    from app.models import Grade
    from app.rollups import CLV_BINS, CLV_MAX, CLV_MIN, clv_bin_edges

    inner_edges = [lo for lo, _ in clv_bin_edges()[1:]] + [CLV_MAX]
    totals: dict = {}
    hist: dict = {}
    with db.session() as s:
        for g in s.scalars(select(Grade)):
            t = totals.setdefault(g.strategy, [0, 0, 0, 0, 0.0, 0.0])
            settled = g.result != "void"
            t[0] += settled
            t[1] += g.result == "win"
            t[2] += g.result == "loss"
            t[3] += g.result == "push"
            t[4] += g.stake_units if settled else 0.0
            t[5] += g.profit_units
            if g.clv is not None:
                b = 0 if g.clv < CLV_MIN else min(bisect_right(inner_edges, g.clv), CLV_BINS - 1)
                hist.setdefault(g.strategy, [0] * CLV_BINS)[b] += 1
    return totals, hist


def grade_figures(db) -> tuple[dict, dict]:
    from app.pipelines.performance import clv_histogram, grade_days, performance_from_days

    with db.session() as s:
        days = grade_days(s, NOW)
    perf = {
        p.strategy: [p.bets, p.wins, p.losses, p.pushes, round(p.staked, 9), round(p.units, 9)]
        for p in performance_from_days(days)
    }
    return perf, clv_histogram(days)


def test_grade_rollup_matches_a_scan_of_the_grades_and_follows_changes(db) -> None:
    from app.models import Grade, RollupGradeDay

    grade_history(db)
    perf, hist = grade_figures(db)
    totals, scanned = scan_grades(db)
    assert perf == {k: [*v[:4], round(v[4], 9), round(v[5], 9)] for k, v in totals.items()}
    assert hist == scanned and hist["ev"][0] > 0 and hist["ev"][-1] > 0  # both tails counted
    with db.session() as s:
        stored = s.scalar(select(func.count()).select_from(RollupGradeDay))
    assert stored >= 10  # the settled days were kept
    assert grade_figures(db) == (perf, hist)  # read back from the rollup

    with db.session() as s:  # an old grade changes; a late one lands in a settled day
        old = s.scalars(
            select(Grade).where(Grade.result == "loss").order_by(Grade.graded_at).limit(1)
        ).one()
        old.result, old.profit_units, old.clv = "win", old.stake_units, 0.05
    changed = grade_figures(db)
    assert changed != (perf, hist)
    assert changed[0] == {
        k: [*v[:4], round(v[4], 9), round(v[5], 9)] for k, v in scan_grades(db)[0].items()
    }
    assert changed[1] == scan_grades(db)[1]
