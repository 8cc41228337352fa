"""The grid of runs (SQLite and PostgreSQL): each slot's worst run, counts, mean duration and
reason aggregated in SQL; cells link to runs; old history outside the window costs nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.models import PipelineRun
from app.queries.run_grid import SLOTS, run_grid
from components.run_grid import run_grid as grid_view
from tests.integration.observability.ledger import run

NOW = datetime(2026, 7, 4, 18, 0, 30, tzinfo=UTC)


def test_grid_cells_hold_the_worst_run_of_each_slot(db) -> None:
    slot = NOW.replace(second=0) - timedelta(minutes=10)
    ok = run(slot + timedelta(seconds=5), duration_ms=100)
    bad = run(slot + timedelta(seconds=20), "failed", duration_ms=300)
    bad.error_message = "collect: odds_api: HTTP 500"
    skipped = run(slot + timedelta(minutes=1), "skipped", pipeline="analysis", duration_ms=0)
    skipped.summary = {"reason": "upstream collection failed after 3 attempts: HTTP 500"}
    old = run(NOW - timedelta(days=200), "failed")  # a year of history: outside every window
    with db.session() as s:
        s.add_all([ok, bad, skipped, old])
    with db.session() as s:
        grid = run_grid(s, NOW, "1h")
    assert len(grid.slots) == 60 and grid.slots[-1] == NOW.replace(second=0)
    assert grid.pipelines == ["analysis", "collection"]
    cell = grid.cells[("collection", slot)]
    assert (cell.status, cell.runs, cell.by_status) == ("failed", 2, {"succeeded": 1, "failed": 1})
    assert cell.mean_ms == 200 and cell.run_id == bad.id
    assert cell.reason == "collect: odds_api: HTTP 500"
    chained = grid.cells[("analysis", slot + timedelta(minutes=1))]
    assert chained.run_id == skipped.id and chained.reason.startswith("upstream collection failed")

    view = json.dumps(grid_view(grid).to_plotly_json(), default=str)
    assert f"/pipelines/{bad.id}" in view and f"/pipelines/{skipped.id}" in view
    assert "1 failed, 1 succeeded; mean 200 ms; collect: odds_api: HTTP 500" in view
    with db.session() as s:
        assert run_grid(s, NOW + timedelta(days=400), "30d").pipelines == []


def test_every_window_has_60_to_84_slots(db) -> None:
    with db.session() as s:
        s.add(run(NOW - timedelta(minutes=3)))
    with db.session() as s:
        for window in SLOTS:
            grid = run_grid(s, NOW, window)
            assert 60 <= len(grid.slots) <= 85, window
            assert grid.pipelines == ["collection"]
            (cell,) = grid.cells.values()
            assert cell.slot in grid.slots  # the run's slot is one of the columns


def test_grid_callback_for_a_viewer(login_as, db) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        s.add(run(now - timedelta(minutes=2), "partial"))
        rid = s.query(PipelineRun.id).first()
    viewer = login_as("viewer")
    r = viewer.callback(
        "runs-grid.children",
        [
            {"id": "grid-window", "property": "value", "value": "1h"},
            {"id": "runs-refresh", "property": "n_intervals", "value": 0},
            {"id": "live-token", "property": "data", "value": None},
        ],
    )
    assert r.status_code == 200, r.data
    body = json.dumps(json.loads(r.data))  # Dash escapes "/" in its answer
    assert f'"href": "/pipelines/{rid[0]}"' in body and '"grid-cell s-partial"' in body
    bad = viewer.callback(
        "runs-grid.children",
        [
            {"id": "grid-window", "property": "value", "value": "'; DROP TABLE x"},
            {"id": "runs-refresh", "property": "n_intervals", "value": 0},
            {"id": "live-token", "property": "data", "value": None},
        ],
    )
    assert bad.status_code == 200  # an unknown window is the default one, never a 500
