"""SLO math on crafted ledgers (SQLite and PostgreSQL): SLIs, budgets, burn rates, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from app.models import Alert
from app.observability.alerts import evaluate
from app.observability.slo import SLO_BY_NAME, slo_report, slo_reports
from tests.integration.observability.ledger import opportunity, run, snapshot, source

NOW = datetime(2026, 7, 4, 12, 0, tzinfo=UTC)


def add(db, rows) -> None:
    with db.session() as s:
        s.add_all(rows)


def report(db, name: str, now: datetime = NOW):
    with db.session() as s:
        return slo_report(s, SLO_BY_NAME[name], now)


def steady_runs(days: float, every_min: float, failed_every: int = 0, end: datetime = NOW):
    """Grading runs every `every_min` minutes for `days` before `end`; every Nth one failed
    (grading: not a collection tick, so only the reliability SLO sees them)."""
    rows, i = [], 0
    at = end - timedelta(days=days)
    while at < end:
        i += 1
        status = "failed" if failed_every and i % failed_every == 0 else "succeeded"
        rows.append(run(at, status, pipeline="grading"))
        at += timedelta(minutes=every_min)
    return rows


def test_reliability_sli_budget_and_windows(db) -> None:
    rows = steady_runs(days=10, every_min=15)  # 960 runs
    for i, r in enumerate(rows[:3]):  # three failures ten days ago
        r.status = "failed" if i < 3 else r.status
    rows.append(run(NOW - timedelta(days=31), "failed"))  # outside the 30-day window
    rows.append(run(NOW - timedelta(minutes=2), "skipped"))  # not counted
    add(db, rows)
    rep = report(db, "pipeline_reliability")
    assert rep.total == 960 and rep.bad == 3
    assert rep.sli == pytest.approx(957 / 960)
    assert rep.error_budget_remaining == pytest.approx(1 - (3 / 960) / 0.005)
    assert rep.counts["1h"] == (4, 0) and rep.burn_rate("1h") == 0.0
    assert rep.firing_rules() == []


def test_fast_burn_pages_and_tickets_then_resolves(db) -> None:
    rows = steady_runs(days=3, every_min=10)
    # the last hour: one run a minute, every fourth failing (25% errors: 50x the budget)
    rows += steady_runs(days=1 / 24, every_min=1, failed_every=4)
    add(db, rows)
    rep = report(db, "pipeline_reliability")
    assert rep.burn_rate("1h") > 14.4 and rep.burn_rate("5m") > 14.4
    assert rep.firing("page") and rep.firing("ticket")
    # 15 failures in 492 runs (3%) is six times the whole 30-day budget of 0.5%
    assert rep.firing("budget_exhausted") and rep.level == "page"

    sessions = db.sessionmaker
    first = evaluate(sessions, NOW)
    assert {(c.key, c.status) for c in first.changes} == {
        ("slo:pipeline_reliability:page", "firing"),
        ("slo:pipeline_reliability:ticket", "firing"),
        ("slo:pipeline_reliability:budget_exhausted", "firing"),
    }
    exhausted = next(c for c in first.changes if c.severity == "budget_exhausted")
    assert exhausted.title == "Pipeline reliability: error budget exhausted"
    again = evaluate(sessions, NOW + timedelta(minutes=1))
    assert again.changes == [] and len(again.still_firing) == 3
    with db.session() as s:
        alerts = s.scalars(select(Alert)).all()
        assert len(alerts) == 3 and all(a.status == "firing" for a in alerts)
        page = next(a for a in alerts if a.severity == "page")
        assert page.labels["slo"] == "pipeline_reliability" and "1h&5m>14.4" in page.labels["rules"]

    # Seven quiet hours later no run has failed in any short window: both burn alerts
    # resolve, while the 30-day budget stays spent (its alert fires on).
    later = NOW + timedelta(hours=7)
    add(db, steady_runs(days=7 / 24, every_min=10, end=later))
    resolved = evaluate(sessions, later)
    assert {(c.key, c.status) for c in resolved.changes} == {
        ("slo:pipeline_reliability:page", "resolved"),
        ("slo:pipeline_reliability:ticket", "resolved"),
    }
    with db.session() as s:
        states = {a.severity: (a.status, a.resolved_at) for a in s.scalars(select(Alert))}
    assert states == {
        "page": ("resolved", later),
        "ticket": ("resolved", later),
        "budget_exhausted": ("firing", None),
    }


def test_short_spikes_and_slow_leaks_under_budget_do_not_alert(db) -> None:
    # a leak at half the budget (1 run in 400 fails, a run every 2 minutes for 3.5 days) ...
    rows = steady_runs(days=3.5, every_min=2, failed_every=400)
    # ... and a spike: two failures in the last 5 minutes
    rows += [run(NOW - timedelta(minutes=m), "failed", pipeline="grading") for m in (1, 2)]
    add(db, rows)
    rep = report(db, "pipeline_reliability")
    assert rep.burn_rate("5m") > 14.4 and rep.burn_rate("1h") < 14.4  # the short window alone
    assert rep.burn_rate("30m") > 6 and rep.burn_rate("6h") < 6  # again only the short one
    assert rep.burn_rate("6h") > 1 and rep.burn_rate("3d") < 1
    assert rep.firing_rules() == []
    assert evaluate(db.sessionmaker, NOW).changes == []


def test_latency_counts_collection_runs_over_30_s(db) -> None:
    rows = [run(NOW - timedelta(minutes=i), duration_ms=1000) for i in range(1, 99)]
    rows.append(run(NOW - timedelta(minutes=100), duration_ms=30_000))  # at the line: bad
    rows.append(run(NOW - timedelta(minutes=101), duration_ms=29_999))
    rows.append(run(NOW - timedelta(minutes=3), pipeline="grading", duration_ms=90_000))  # ignored
    rows.append(run(NOW - timedelta(minutes=4), pipeline="full", duration_ms=45_000))
    add(db, rows)
    rep = report(db, "pipeline_latency")
    assert rep.total == 101 and rep.bad == 2
    assert rep.sli == pytest.approx(99 / 101)
    # the last hour: 60 one-second runs and the 45 s full run
    assert rep.burn_rate("1h") == pytest.approx((1 / 61) / 0.01, rel=1e-6)


def test_detection_counts_opportunities_slower_than_60_s(db) -> None:
    rows = [opportunity(NOW - timedelta(minutes=i), latency_s=2.0) for i in range(1, 19)]
    rows += [
        opportunity(NOW - timedelta(minutes=2), latency_s=61.0),
        opportunity(NOW - timedelta(minutes=3), latency_s=60.0),
    ]  # within: good
    add(db, rows)
    rep = report(db, "opportunity_detection")
    assert (rep.total, rep.bad) == (20, 1)
    assert rep.burn_rate("5m") == pytest.approx((1 / 7) / 0.05)  # minutes 1-5, plus 2 and 3


def test_freshness_ticks_need_data_younger_than_60_s(db) -> None:
    t = [NOW - timedelta(minutes=m) for m in (40, 30, 20, 10)]
    add(db, [source("demo"), source("odds_api")])
    add(
        db,
        [
            snapshot(t[0], t[0] - timedelta(seconds=10)),  # tick 0: 10 s old data -> good
            snapshot(t[1] - timedelta(seconds=30), t[1] - timedelta(seconds=100)),  # 100 s -> bad
            snapshot(
                t[2] - timedelta(seconds=50), t[2] - timedelta(seconds=55), source="odds_api"
            ),  # 55 s old, fetched by another source -> good
            snapshot(t[3] + timedelta(seconds=5), t[3]),  # fetched after the tick -> bad
        ],
    )
    add(db, [run(at) for at in t] + [run(NOW, pipeline="analysis")])
    rep = report(db, "data_freshness")
    assert (rep.total, rep.bad) == (4, 2)
    assert rep.counts["30m"] == (3, 2)


def test_freshness_leaves_out_ticks_with_no_market_open(db) -> None:
    """Overnight a source answers with nothing to bet on: such a tick is not a freshness event.
    A tick whose sources failed still is, and so is an empty answer while a game is due."""
    from app.models import Game, StageRun

    t = [NOW - timedelta(hours=h) for h in (12, 11, 10, 1)]
    add(db, [source("demo")])
    # one game, 30 minutes after the last tick: due for that tick only (6 h window)
    add(
        db,
        [Game(game_key="g1", home="NYY", away="BOS", commence_time=t[3] + timedelta(minutes=30))],
    )
    closed, failed, open_, empty = run(t[0]), run(t[1], "failed"), run(t[2]), run(t[3])
    add(db, [closed, failed, open_, empty])
    add(
        db,
        [
            StageRun(run_id=closed.id, stage="collect", status="succeeded", records_in=0),
            StageRun(run_id=failed.id, stage="collect", status="failed", records_in=0),
            StageRun(run_id=open_.id, stage="collect", status="succeeded", records_in=300),
            StageRun(run_id=empty.id, stage="collect", status="succeeded", records_in=0),
            snapshot(t[2] - timedelta(seconds=5), t[2] - timedelta(seconds=20)),  # fresh
        ],
    )
    rep = report(db, "data_freshness")
    assert (rep.total, rep.bad) == (3, 2)  # failed (bad), open (good), empty feed (bad)


def test_no_events_means_no_sli_and_no_burn(db) -> None:
    with db.session() as s:
        reports = slo_reports(s, NOW)
    assert len(reports) == 4
    for rep in reports:
        assert rep.sli is None and rep.error_budget_remaining is None
        assert all(rep.burn_rate(w) == 0 for w in ("5m", "1h", "3d"))
        assert rep.as_dict()["firing"] == {
            "page": False,
            "ticket": False,
            "budget_exhausted": False,
        }
        assert rep.level == "no_data"


def varied_ledger(end: datetime) -> list:
    """Three days of every SLO's events at uneven times (a run every 7 minutes 13 seconds):
    some slow, some failed, some ticks with stale data, some slow opportunities."""
    rows: list = [source("demo")]
    at, i = end - timedelta(days=3), 0
    while at < end:
        i += 1
        status = "failed" if i % 11 == 0 else "succeeded"
        rows.append(run(at, status, duration_ms=31_000 if i % 7 == 0 else 900))
        rows.append(run(at + timedelta(seconds=40), pipeline="grading"))
        age = 90 if i % 5 == 0 else 10  # every fifth tick sees stale data
        rows.append(snapshot(at - timedelta(seconds=2), at - timedelta(seconds=age)))
        rows.append(opportunity(at + timedelta(seconds=20), latency_s=75 if i % 6 == 0 else 3))
        at += timedelta(minutes=7, seconds=13)
    return rows


def test_window_counts_match_a_fresh_count_of_every_window(db) -> None:
    """The reused window statements (one per SLO and window shape, moments bound at each call)
    count what a fresh select of each window [now - span, now] counts, at moments of every
    shape, whether the rollup stored the hours or not, or only some of them."""
    from app.models import RollupSloHour
    from app.observability.slo import SLOS, SPANS, window_counts
    from app.rollups import slo_hours

    add(db, varied_ledger(NOW))
    moments = [NOW - timedelta(minutes=23 * k, seconds=7 * k) for k in range(9)]
    moments += [NOW - timedelta(hours=2), NOW - timedelta(hours=5, minutes=-4, seconds=59)]

    def fresh(s, slo, now):
        counts = {}
        for name, span in SPANS.items():
            events = slo.between(s, now - span, now).subquery()
            n, bad = s.execute(select(func.count(), func.sum(events.c.bad))).one()
            counts[name] = (int(n), int(bad or 0))
        return counts

    with db.session() as s:
        expected = {(slo.name, now): fresh(s, slo, now) for slo in SLOS for now in moments}
        assert any(c["1h"][1] for c in expected.values())  # bad events inside the windows

    def check() -> None:
        with db.session() as s:
            for now in moments:
                for slo in SLOS:
                    assert window_counts(s, slo, now) == expected[(slo.name, now)], (slo, now)

    check()  # nothing stored: every whole hour counted on the ledger
    with db.session() as s:
        slo_hours.refresh(s, NOW, SLOS, timedelta(days=31))
        assert s.scalar(select(func.count()).select_from(RollupSloHour)) > 4 * 60
    check()  # every hour stored
    with db.session() as s:
        s.execute(delete(RollupSloHour).where(RollupSloHour.hour >= NOW - timedelta(hours=30)))
        s.execute(delete(RollupSloHour).where(RollupSloHour.hour < NOW - timedelta(hours=50)))
    check()  # some stored, some not
