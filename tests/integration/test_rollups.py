"""Rollups give the same figures as a scan of the ledger and follow changes; reads never
write them: the keeper stores them at start-up and right after each write batch."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from app.models import (
    Grade,
    PipelineRun,
    Recommendation,
    RollupBetTotal,
    RollupGradeDay,
    RollupGradeDayBlock,
    RollupGradeSplit,
    RollupGradeSplitBlock,
    RollupGridSlot,
    RollupRunBucket,
    RollupRunDay,
    RollupSloHour,
)
from app.observability.slo import SLO_BY_NAME, slo_report
from app.queries.run_charts import latency_series, success_series
from app.queries.run_grid import run_grid
from app.queries.runs import pipeline_summaries
from app.rollups.keeper import refresh_all
from app.rollups.slices import DAY, floor_to
from tests.integration.observability.ledger import run

NOW = datetime(2026, 7, 4, 12, 7, tzinfo=UTC)
ROLLUPS = (
    RollupRunDay,
    RollupRunBucket,
    RollupGridSlot,
    RollupSloHour,
    RollupGradeDay,
    RollupGradeDayBlock,
    RollupGradeSplit,
    RollupGradeSplitBlock,
    RollupBetTotal,
)


def history(end: datetime = NOW) -> list[PipelineRun]:
    """Ten days of collection runs every 20 minutes, every 25th failed, durations varying."""
    rows, at, i = [], end - timedelta(days=10), 0
    while at < end:
        i += 1
        rows.append(run(at, "failed" if i % 25 == 0 else "succeeded", duration_ms=100.0 + i % 97))
        at += timedelta(minutes=20)
    return rows


def figures(db, now: datetime = NOW) -> tuple:
    with db.session() as s:
        summaries = pipeline_summaries(s, now - timedelta(days=7), now)
        latency = latency_series(s, now, "7d")
        success = success_series(s, now, "30d")
        reliability = slo_report(s, SLO_BY_NAME["pipeline_reliability"], now).counts
        grids = [grid_cells(run_grid(s, now, window)) for window in ("7d", "30d")]
    return summaries, latency, success, reliability, grids


def grid_cells(grid) -> dict:
    """Each cell of a grid as comparable data: worst status, counts, mean, its run, why."""
    return {
        k: (
            c.status,
            c.runs,
            sorted(c.by_status.items()),
            round(c.mean_ms or 0, 6),
            c.run_id,
            c.reason,
        )
        for k, c in grid.cells.items()
    }


def stored(db) -> dict[str, list[tuple]]:
    """Every rollup row, table by table, in key order."""
    out: dict[str, list[tuple]] = {}
    with db.session() as s:
        for model in ROLLUPS:
            table = model.__table__
            rows = s.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def counts(db) -> dict[str, int]:
    return {name: len(rows) for name, rows in stored(db).items()}


def test_rollups_match_a_fresh_scan_and_follow_changes(make_app) -> None:
    db = make_app(rollup_keeper=False).extensions["dugout.db"]  # refreshed by hand at NOW
    with db.session() as s:
        s.add_all(history())
    scan = figures(db)  # nothing is stored yet: every slice is computed from the ledger
    assert set(counts(db).values()) == {0}  # and reading stored nothing
    refresh_all(db.sessionmaker, NOW)
    after = counts(db)
    assert after["rollup_run_days"] and after["rollup_run_buckets"] and after["rollup_slo_hours"]
    assert after["rollup_grid_slots"]
    assert figures(db) == scan  # read back from the rollups: the same figures

    summary = next(x for x in scan[0] if x.pipeline == "collection")
    assert summary.runs == 7 * 72 and summary.failed == sum(
        1 for r in history() if r.status == "failed" and r.created_at >= NOW - timedelta(days=7)
    )

    # An old run changes through the ORM, another through a bulk UPDATE, and a late insert
    # lands in a settled day: every figure follows, before and after the next refresh.
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
    assert changed != scan
    refresh_all(db.sessionmaker, NOW)
    assert figures(db) == changed
    with db.session() as s:  # one day in the middle not stored (yet): counted on the ledger
        day = RollupRunDay.day
        s.execute(delete(RollupRunDay).where(day == floor_to(NOW - timedelta(days=3), DAY)))
    assert figures(db) == changed
    with db.session() as s:
        for table in ROLLUPS:
            s.execute(table.__table__.delete())
    assert figures(db) == changed  # what a reader recomputing from the ledger sees


def grade_history(db, end: datetime = NOW) -> None:
    """Ten days of grades for two strategies, a recommendation each; CLV across both tails,
    some missing, some voids; and a first one 65 days before, so a 30-day block is settled."""
    results = ("win", "loss", "loss", "push", "void", "win", "loss")
    clvs = (0.012, -0.004, None, 0.25, -0.3, 0.0, 0.0999, -0.1)
    with db.session() as s:
        for i in range(-1, 10 * 12):
            at = end - timedelta(days=10) + timedelta(hours=2 * i)
            if i < 0:
                at = end - timedelta(days=65)
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

    from app.rollups.grade_days import CLV_BINS, CLV_MAX, CLV_MIN, clv_bin_edges

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
    from app.queries.strategies import clv_histogram, grade_days, performance_from_days

    with db.session() as s:
        days = grade_days(s, NOW)
    perf = {
        p.strategy: [p.bets, p.wins, p.losses, p.pushes, round(p.staked, 9), round(p.units, 9)]
        for p in performance_from_days(days)
    }
    return perf, clv_histogram(days)


def _rounded(totals: dict) -> dict:
    return {k: [*v[:4], round(v[4], 9), round(v[5], 9)] for k, v in totals.items()}


def test_grade_rollup_matches_a_scan_of_the_grades_and_follows_changes(make_app) -> None:
    db = make_app(rollup_keeper=False).extensions["dugout.db"]
    grade_history(db)
    perf, hist = grade_figures(db)
    totals, scanned = scan_grades(db)
    assert perf == _rounded(totals)
    assert hist == scanned and hist["ev"][0] > 0 and hist["ev"][-1] > 0  # both tails counted
    assert counts(db)["rollup_grade_days"] == 0  # reading stored nothing
    refresh_all(db.sessionmaker, NOW)
    assert counts(db)["rollup_grade_days"] >= 10  # the settled days were stored
    assert grade_figures(db) == (perf, hist)  # read back from the rollup

    with db.session() as s:  # an old grade changes; a late one lands in a settled day
        old = s.scalars(
            select(Grade).where(Grade.result == "loss").order_by(Grade.graded_at).limit(1)
        ).one()
        old.result, old.profit_units, old.clv = "win", old.stake_units, 0.05
    changed = grade_figures(db)
    assert changed != (perf, hist)
    assert changed[0] == _rounded(scan_grades(db)[0]) and changed[1] == scan_grades(db)[1]
    refresh_all(db.sessionmaker, NOW)
    assert grade_figures(db) == changed


# --- reads never write; the keeper keeps rollups current --------------------------------------


def _props(response) -> dict:
    assert response.status_code == 200, response.data
    return json.loads(response.data)["response"]


def _read_every_page(client) -> str:
    """Call every read callback the pages make; their outputs, as one JSON string."""
    out = []
    for window in ("24h", "7d", "30d", "1y"):
        out.append(
            _props(
                client.callback(
                    "..overview-cards.children...overview-runs.children...overview-latency-figure.data"
                    "...overview-success-figure.data...overview-freshness-figure.data..",
                    [
                        {"id": "overview-refresh", "property": "n_intervals", "value": 1},
                        {"id": "overview-window", "property": "value", "value": window},
                        {"id": "overview-percentile", "property": "value", "value": "p95"},
                        {"id": "live-token", "property": "data", "value": None},
                        {"id": "display-tz", "property": "value", "value": "America/New_York"},
                    ],
                )
            )
        )
    out.append(
        _props(
            client.callback(
                "..overview-slo.children...overview-alerts.children...overview-scheduler.children"
                "...overview-checks.children..",
                [{"id": "overview-refresh", "property": "n_intervals", "value": 1}],
            )
        )
    )
    for time_range in ("24h", "30d", "all"):
        out.append(
            _props(
                client.callback(
                    "..runs-history.getRowsResponse...runs-count.children..",
                    [
                        {
                            "id": "runs-history",
                            "property": "getRowsRequest",
                            "value": {"startRow": 0, "endRow": 100},
                        }
                    ],
                    state=[
                        {"id": "runs-pipeline", "property": "value", "value": None},
                        {"id": "runs-status", "property": "value", "value": "failed"},
                        {"id": "runs-trigger", "property": "value", "value": None},
                        {"id": "runs-range", "property": "value", "value": time_range},
                        {"id": "display-tz", "property": "value", "value": "America/New_York"},
                    ],
                )
            )
        )
    out.append(
        _props(
            client.callback(
                "..strategy-stats.rowData...strategy-splits.rowData...strategy-splits-box.className..."
                "strategy-units-figure.data...strategy-clv-time-figure.data...strategy-clv-figure.data..",
                [
                    {"id": "strategy-refresh", "property": "n_intervals", "value": 0},
                    {"id": "strategy-window", "property": "value", "value": "all"},
                    {"id": "strategy-split", "property": "value", "value": "book"},
                ],
            )
        )
    )
    slo = client.http.get("/api/slo")
    assert slo.status_code == 200
    out.append(slo.json)
    return json.dumps(out, sort_keys=True, default=str)


def test_page_reads_never_write_rollups_stored_or_not(make_app) -> None:
    from app.accounts import add_user
    from tests.conftest import PASSWORD, Client

    app = make_app(rollup_keeper=False)  # no keeper: only the reads could store anything
    db = app.extensions["dugout.db"]
    now = datetime.now(UTC)
    with db.session() as s:
        s.add_all(history(now))
        add_user(s, "reader", PASSWORD, "viewer")
    grade_history(db, now)
    viewer = Client(app)
    assert viewer.login("reader").status_code == 302

    _read_every_page(viewer)  # nothing stored: every page computes what it needs, stores nothing
    assert set(counts(db).values()) == {0}

    refresh_all(db.sessionmaker, now)
    before = stored(db)
    assert all(before.values())
    _read_every_page(viewer)
    assert stored(db) == before  # the same rows, to the last column


def _wait_for(predicate, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        threading.Event().wait(0.1)
    raise AssertionError("condition not met in time")


def test_keeper_stores_rollups_at_start_up_and_after_each_write_batch(make_app) -> None:
    now = datetime.now(UTC)
    writer = make_app(rollup_keeper=False)  # another process wrote a year's worth of history
    db = writer.extensions["dugout.db"]
    with db.session() as s:
        s.add_all(history(now))
    grade_history(db, now)

    app = make_app()  # a fresh start: its keeper refreshes in the background at once
    keeper = app.extensions["dugout.rollups"]
    _wait_for(lambda: keeper.passes >= 1)
    first = stored(db)
    assert all(first.values()), counts(db)
    expected = figures(db, now)

    # a write batch changes a settled day: the keeper stores that day again right after
    day = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    with db.session() as s:
        s.execute(
            update(PipelineRun)
            .where(PipelineRun.created_at >= day, PipelineRun.created_at < day + timedelta(days=1))
            .values(status="failed")
        )

    def day_rolled_up_as_failed() -> bool:
        with db.session() as s:
            rows = s.execute(
                select(RollupRunDay.status, func.sum(RollupRunDay.runs))
                .where(RollupRunDay.day == day, RollupRunDay.pipeline == "collection")
                .group_by(RollupRunDay.status)
            ).all()
        return dict(rows) == {"failed": 72}

    _wait_for(day_rolled_up_as_failed)
    assert figures(db, now) != expected


def test_writes_that_change_nothing_a_rollup_sums_forget_nothing(make_app) -> None:
    db = make_app(rollup_keeper=False).extensions["dugout.db"]
    with db.session() as s:
        s.add_all(history())
    refresh_all(db.sessionmaker, NOW)
    before = stored(db)
    old = NOW - timedelta(days=5)
    with db.session() as s:  # a heartbeat through a bulk UPDATE, a note through the ORM
        s.execute(update(PipelineRun).where(PipelineRun.started_at < old).values(heartbeat_at=NOW))
        target = s.scalars(select(PipelineRun).where(PipelineRun.started_at < old).limit(1)).one()
        target.error_message = "a note"
    assert stored(db) == before
    with db.session() as s:  # a status does change what the rollups sum
        s.execute(update(PipelineRun).where(PipelineRun.started_at < old).values(status="failed"))
    assert counts(db)["rollup_run_days"] < len(before["rollup_run_days"])
