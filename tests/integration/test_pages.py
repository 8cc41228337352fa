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
            {"id": "display-tz", "property": "value", "value": "America/New_York"},
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


RUNS_OUT = "..runs-history.getRowsResponse...runs-count.children.."


def _runs_block(viewer, request, pipeline=None, status=None, trigger=None, window="24h"):
    """The runs grid's block request, with the page's filters as the callback's state."""
    state = [
        {"id": "runs-pipeline", "property": "value", "value": pipeline},
        {"id": "runs-status", "property": "value", "value": status},
        {"id": "runs-trigger", "property": "value", "value": trigger},
        {"id": "runs-range", "property": "value", "value": window},
        {"id": "display-tz", "property": "value", "value": "America/New_York"},
    ]
    inputs = [{"id": "runs-history", "property": "getRowsRequest", "value": request}]
    props = _props(viewer.callback(RUNS_OUT, inputs, state=state))
    return props["runs-history"]["getRowsResponse"], props["runs-count"]["children"]


def test_pipelines_history_pages_on_the_server(login_as, seeded) -> None:
    viewer = login_as("viewer")
    first = {"startRow": 0, "endRow": 4, "sortModel": [], "filterModel": {}}
    block, count = _runs_block(viewer, first, "full", None, "schedule")
    assert block["rowCount"] == len(seeded) and count.startswith(str(len(seeded)))
    assert len(block["rowData"]) == 4  # only the rows asked for travel
    second, _ = _runs_block(viewer, {**first, "startRow": 4, "endRow": 8}, "full", None, "schedule")
    newest = [r["id"] for r in block["rowData"] + second["rowData"]]
    assert newest == [str(i) for i in reversed(seeded)][: len(newest)]
    oldest = {**first, "sortModel": [{"colId": "started_at", "sort": "asc"}]}
    assert _runs_block(viewer, oldest)[0]["rowData"][0]["id"] == str(seeded[0])
    block, count = _runs_block(viewer, first, "full", "failed", "schedule")
    assert block == {"rowData": [], "rowCount": 0} and "No runs match" in count


def test_runs_grid_sorts_and_filters_only_listed_columns(login_as, seeded) -> None:
    viewer = login_as("viewer")
    hostile = {
        "startRow": 0,
        "endRow": 100000,
        "sortModel": [{"colId": "id; DROP TABLE pipeline_runs", "sort": "asc"}],
        "filterModel": {
            "error": {"filterType": "text", "type": "contains", "filter": "%_' OR 1=1 --"},
            "summary": {"filterType": "text", "type": "contains", "filter": "x"},
        },
    }
    block, count = _runs_block(viewer, hostile)
    assert block == {"rowData": [], "rowCount": 0} and "No runs match" in count
    by = {**hostile, "filterModel": {"actor": {"type": "contains", "filter": "nobody"}}}
    assert _runs_block(viewer, by)[0]["rowCount"] == 0
    unfiltered = {**hostile, "filterModel": {}}
    block, _ = _runs_block(viewer, unfiltered)
    assert block["rowCount"] == len(seeded) and len(block["rowData"]) == len(seeded)


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
    charts = "..opp-ev-hist-figure.data...opp-latency-hist-figure.data.."
    inputs = [
        {"id": "opp-strategy", "property": "value", "value": None},
        {"id": "opp-min-ev", "property": "value", "value": None},
        {"id": "opp-book", "property": "value", "value": None},
        {"id": "opp-refresh", "property": "n_intervals", "value": 0},
        {"id": "opp-all-ev", "property": "value", "value": False},
    ]
    figures = _props(viewer.callback(charts, inputs))
    assert {"opp-ev-hist-figure", "opp-latency-hist-figure"} <= set(figures)  # charts apart

    def block(request, min_ev=None, all_ev=False):
        state = [
            {**i, "value": min_ev if i["id"] == "opp-min-ev" else all_ev}
            if i["id"] in ("opp-min-ev", "opp-all-ev")
            else i
            for i in inputs
            if i["id"] != "opp-refresh"
        ]
        state.append({"id": "display-tz", "property": "value", "value": None})
        grid = [{"id": "opp-table", "property": "getRowsRequest", "value": request}]
        return _props(viewer.callback("opp-table.getRowsResponse", grid, state=state))["opp-table"][
            "getRowsResponse"
        ]

    def bets(rows):
        return [(r["game"], r["market"], r["bet"], r["book"], r["price"]) for r in rows]

    whole = block({"startRow": 0, "endRow": 200})
    rows = whole["rowData"]
    assert all(r["ev_pct"].startswith("+") for r in rows)  # +EV only by default
    assert whole["rowCount"] == len(rows) < 200  # a short block says where the table ends
    every = block({"startRow": 0, "endRow": 200}, all_ev=True)["rowData"]
    keys = bets(every)  # (how many are +EV depends on the hour the demo day is replayed at)
    assert len(every) >= 2 and len(keys) == len(set(keys))  # one row per bet, whatever its tags
    assert len(every) >= len(rows)
    first = block({"startRow": 0, "endRow": 1}, all_ev=True)
    assert len(first["rowData"]) == 1 and "rowCount" not in first  # more to come
    rest = block({"startRow": 1, "endRow": 200}, all_ev=True)
    assert rest["rowCount"] == len(every)
    assert bets(first["rowData"] + rest["rowData"]) == bets(every)  # the blocks make the whole
    by_ev = {"startRow": 0, "endRow": 200, "sortModel": [{"colId": "ev_pct", "sort": "asc"}]}
    evs = [float(r["ev_pct"].rstrip("%")) for r in block(by_ev, all_ev=True)["rowData"]]
    assert evs == sorted(evs) and len(evs) == len(every)
    nothing = block({"startRow": 0, "endRow": 200}, min_ev=1000)  # nothing has 1000% EV
    assert nothing == {"rowData": [], "rowCount": 0}


def test_strategies_page_reads_grades(login_as, seeded) -> None:
    viewer = login_as("viewer")
    props = _props(
        viewer.callback(
            "..strategy-stats.rowData...strategy-splits.rowData...strategy-splits-box.className..."
            "strategy-units-figure.data...strategy-clv-time-figure.data...strategy-clv-figure.data..",
            [
                {"id": "strategy-refresh", "property": "n_intervals", "value": 0},
                {"id": "strategy-window", "property": "value", "value": "all"},
                {"id": "strategy-split", "property": "value", "value": "book"},
            ],
        )
    )
    assert "strategy-units-figure" in props and "strategy-clv-figure" in props
    rows = {r["strategy"]: r for r in props["strategy-stats"]["rowData"]}
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
    for trigger in ("dependency", "fallback"):
        request = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
        rows = _runs_block(viewer, request, trigger=trigger, window="1h")[0]["rowData"]
        assert [r["trigger"] for r in rows] == [trigger]
