"""Page callbacks through /_dash-update-component, on data from real demo runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.pipelines.context import PipelineContext
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.strategies import build_strategies

# An evening in July with games in play: the market is busy whatever the hour the suite runs
# at (the demo keeps MLB's hours, so the wall clock's morning would find little to show)
NOW = datetime(2026, 7, 4, 23, 30, tzinfo=UTC)


@pytest.fixture
def seeded(app, db):
    """Thirty minutes of the demo market as real runs, ending at NOW, the pages' clock."""
    now = NOW
    app.extensions["dugout.clock"] = lambda: NOW
    demo = DemoSource(seed=3, day=(now - timedelta(hours=6)).date())
    clock_now = [now - timedelta(minutes=30)]
    ctx = PipelineContext(
        sessions=db.sessionmaker,
        clock=lambda: clock_now[0],
        sources=[demo],
        strategies=build_strategies(),
    )
    ids = []
    while clock_now[0] <= now:
        ids.append(run_pipeline(ctx, "full", "schedule", scheduled_for=clock_now[0]).run_id)
        clock_now[0] += timedelta(minutes=5)
    return ids


def _props(response) -> dict:
    assert response.status_code == 200, response.data
    return json.loads(response.data)["response"]


def test_overview_callback_returns_charts_for_viewer(login_as, seeded) -> None:
    viewer = login_as("viewer")
    r = viewer.callback(
        "..overview-cards.children...overview-runs.children...overview-latency-figure.data..."
        "overview-success-figure.data...overview-freshness-figure.data..",
        [
            {"id": "overview-refresh", "property": "n_intervals", "value": 1},
            {"id": "overview-window", "property": "value", "value": "24h"},
            {"id": "overview-percentile", "property": "value", "value": "p99"},
            {"id": "live-token", "property": "data", "value": None},
        ],
    )
    props = _props(r)
    latency = props["overview-latency-figure"]["data"]
    legend = [t["name"] for t in latency["data"] if t.get("showlegend", True)]
    assert legend == ["full"]  # one entry per pipeline
    assert latency["layout"]["uirevision"] == "latency:24h"
    assert "p99" in latency["layout"]["yaxis"]["title"]["text"]
    runs = json.dumps(props["overview-runs"]["children"])
    assert "succeeded" in runs


def test_pipelines_history_pages_on_the_server(login_as, seeded) -> None:
    viewer = login_as("viewer")
    inputs = [
        {"id": "runs-history", "property": "page_current", "value": 0},
        {"id": "runs-pipeline", "property": "value", "value": "full"},
        {"id": "runs-status", "property": "value", "value": None},
        {"id": "runs-trigger", "property": "value", "value": "schedule"},
        {"id": "runs-range", "property": "value", "value": "24h"},
        {"id": "runs-refresh", "property": "n_intervals", "value": 0},
        {"id": "live-token", "property": "data", "value": None},
    ]
    out = "..runs-history.data...runs-history.page_count...runs-count.children.."
    props = _props(viewer.callback(out, inputs))
    rows = props["runs-history"]["data"]
    assert len(rows) == len(seeded) and props["runs-count"]["children"].startswith(str(len(seeded)))
    inputs[2]["value"] = "failed"
    props = _props(viewer.callback(out, inputs))
    assert (
        props["runs-history"]["data"] == [] and "No runs match" in props["runs-count"]["children"]
    )


def test_run_detail_page_shows_stages(login_as, seeded) -> None:
    viewer = login_as("viewer")
    r = viewer.http.get(f"/pipelines/{seeded[-1]}")
    assert r.status_code == 200  # the Dash shell; the layout comes through the pages callback
    content = json.dumps(_props(viewer.page(f"/pipelines/{seeded[-1]}")))
    for stage in ("collect", "analyze", "recommend", "grade"):
        assert stage in content
    assert "run-gantt" in content and str(seeded[-1]) in content


def test_opportunities_live_view_is_one_row_per_bet(login_as, seeded) -> None:
    viewer = login_as("viewer")
    out = "..opp-table.data...opp-ev-hist-figure.data...opp-latency-hist-figure.data.."
    inputs = [
        {"id": "opp-strategy", "property": "value", "value": None},
        {"id": "opp-min-ev", "property": "value", "value": None},
        {"id": "opp-book", "property": "value", "value": None},
        {"id": "opp-refresh", "property": "n_intervals", "value": 0},
        {"id": "opp-all-ev", "property": "value", "value": False},
        {"id": "display-tz", "property": "value", "value": None},
    ]
    rows = _props(viewer.callback(out, inputs))["opp-table"]["data"]
    keys = [(r["game"], r["market"], r["bet"], r["book"], r["price"]) for r in rows]
    assert rows and len(keys) == len(set(keys))  # one row per bet, whatever its strategies
    assert all(r["ev_pct"].startswith("+") for r in rows)  # +EV only by default
    inputs[1]["value"] = 1000  # nothing has 1000% EV
    assert _props(viewer.callback(out, inputs))["opp-table"]["data"] == []


def test_strategies_page_reads_grades(login_as, seeded) -> None:
    viewer = login_as("viewer")
    props = _props(
        viewer.callback(
            "..strategy-stats.data...strategy-splits.data...strategy-splits-box.className..."
            "strategy-units-figure.data...strategy-clv-time-figure.data...strategy-clv-figure.data..",
            [
                {"id": "strategy-refresh", "property": "n_intervals", "value": 0},
                {"id": "strategy-window", "property": "value", "value": "all"},
                {"id": "strategy-split", "property": "value", "value": "book"},
            ],
        )
    )
    assert "strategy-units-figure" in props and "strategy-clv-figure" in props
    rows = {r["strategy"]: r for r in props["strategy-stats"]["data"]}
    assert set(rows) >= {"ev", "arbitrage", "steam", "stale_line", "sharp_action"}  # every one
    for row in rows.values():  # a short record is marked, never presented as a verdict
        assert row["judge"] == "" or row["judge"].startswith(("too few", "no graded"))


def test_overview_health_shows_slos_alerts_scheduler_and_checks(login_as, seeded) -> None:
    viewer = login_as("viewer")
    r = viewer.callback(
        "..overview-slo.children...overview-alerts.children...overview-scheduler.children..."
        "overview-checks.children..",
        [{"id": "overview-refresh", "property": "n_intervals", "value": 1}],
    )
    props = _props(r)
    slo = json.dumps(props["overview-slo"])
    for name in ("pipeline_latency", "pipeline_reliability", "opportunity_detection"):
        assert f'"slo-{name}"' in slo
    assert "Error budget left" in slo
    assert "No alerts firing" in json.dumps(props["overview-alerts"])
    assert "no leader" in json.dumps(props["overview-scheduler"])  # scheduler off in tests
    checks = json.dumps(props["overview-checks"])
    assert '"database"' in checks and '"migrations"' in checks


def _intervals(tree) -> dict[str, int]:
    """id -> interval (ms) of every dcc.Interval in a rendered layout."""
    found: dict[str, int] = {}
    if isinstance(tree, dict):
        if tree.get("type") == "Interval":
            found[tree["props"]["id"]] = tree["props"]["interval"]
        for value in tree.values():
            found.update(_intervals(value))
    elif isinstance(tree, list):
        for item in tree:
            found.update(_intervals(item))
    return found


def test_every_page_refreshes_on_the_configured_interval(make_app, make_user) -> None:
    from tests.conftest import Client

    app = make_app(refresh_interval_s=7)
    admin = Client(app)
    admin.username = make_user("admin")
    assert admin.login(admin.username).status_code == 302
    shell = json.loads(admin.http.get("/_dash-layout").data)
    assert _intervals(shell) == {"shell-refresh": 7000, "live-poll": 1000}  # + the live token
    seen: dict[str, int] = {}
    for path in ("/", "/pipelines", "/strategies", "/opportunities", "/admin", "/admin/accounts",
                 "/admin/audit"):  # fmt: skip
        found = _intervals(_props(admin.page(path)))
        assert found, f"{path} has no live refresh"
        seen.update(found)
    # every page follows DUGOUT_REFRESH_INTERVAL_S; graded results move slowly: every 4th
    assert seen == {
        "overview-refresh": 7000,
        "runs-refresh": 7000,
        "strategy-refresh": 28000,
        "opp-refresh": 7000,
        "admin-refresh": 7000,
        "kill-refresh": 7000,  # the kill switch card (admins only)
        "admin-accounts-refresh": 7000,
        "admin-audit-refresh": 7000,
    }


def _dropdown_options(tree, id_: str) -> list:
    """The options of the dropdown `id_` in a rendered layout."""
    if isinstance(tree, dict):
        props = tree.get("props") or {}
        if tree.get("type") == "Dropdown" and props.get("id") == id_:
            return list(props["options"])
        for value in tree.values():
            if found := _dropdown_options(value, id_):
                return found
    elif isinstance(tree, list):
        for item in tree:
            if found := _dropdown_options(item, id_):
                return found
    return []


def test_pipelines_filters_offer_the_vocabulary_and_filter_scheduler_triggers(db, login_as) -> None:
    from app.vocabulary import Pipeline, RunStatus, Trigger
    from tests.integration.observability.ledger import run

    viewer = login_as("viewer")
    layout = _props(viewer.page("/pipelines"))
    assert _dropdown_options(layout, "runs-trigger") == [t.value for t in Trigger]
    assert _dropdown_options(layout, "runs-pipeline") == [p.value for p in Pipeline]
    assert _dropdown_options(layout, "runs-status") == [s.value for s in RunStatus]
    assert {"dependency", "fallback"} <= set(_dropdown_options(layout, "runs-trigger"))
    assert "api" not in _dropdown_options(layout, "runs-trigger")

    now = datetime.now(UTC)
    with db.session() as s:  # what the scheduler writes: a chained run and a watchdog fallback
        s.add_all(
            [
                run(
                    now - timedelta(minutes=3),
                    "succeeded",
                    pipeline="analysis",
                    trigger="dependency",
                ),
                run(now - timedelta(minutes=2), "succeeded", trigger="fallback"),
                run(now - timedelta(minutes=1), "succeeded", trigger="schedule"),
            ]
        )
    out = "..runs-history.data...runs-history.page_count...runs-count.children.."
    for trigger in ("dependency", "fallback"):
        inputs = [
            {"id": "runs-history", "property": "page_current", "value": 0},
            {"id": "runs-pipeline", "property": "value", "value": None},
            {"id": "runs-status", "property": "value", "value": None},
            {"id": "runs-trigger", "property": "value", "value": trigger},
            {"id": "runs-range", "property": "value", "value": "1h"},
            {"id": "runs-refresh", "property": "n_intervals", "value": 0},
            {"id": "live-token", "property": "data", "value": None},
        ]
        rows = _props(viewer.callback(out, inputs))["runs-history"]["data"]
        assert [r["trigger"] for r in rows] == [trigger]
