"""Live without waiting (SQLite and PostgreSQL): the change token moves when a run is created
or ends, the shell's poll answers "no update" while it stands still, and a running run's page
is read again once it finishes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.models import PipelineRun
from app.queries.live import change_token
from tests.integration.observability.ledger import run

POLL = "live-token.data"


def _poll(client, previous):
    return client.callback(
        POLL,
        [{"id": "live-poll", "property": "n_intervals", "value": 1}],
        state=[{"id": "live-token", "property": "data", "value": previous}],
    )


def _response(r) -> dict:
    return json.loads(r.data)["response"] if r.status_code == 200 else {}


def test_token_moves_when_a_run_starts_or_ends(db, login_as) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        first = change_token(s)
        going = run(now - timedelta(seconds=5), "running")
        going.finished_at = going.duration_ms = None
        s.add(going)
    with db.session() as s:
        started = change_token(s)
    assert started != first and started.endswith("|1")

    viewer = login_as("viewer")
    r = _poll(viewer, None)
    assert r.status_code == 200
    token = json.loads(r.data)["response"]["live-token"]["data"]
    assert token == started
    again = _poll(viewer, token)  # nothing moved: no output changes, nothing downstream fires
    assert again.status_code in (200, 204) and not _response(again)

    # a page open on the running run follows it until it ends
    follow = "..run-body.children...run-gantt-figure.data...run-details.children...run-live.data.."
    live = {"id": str(going.id), "status": "running", "tz": "America/New_York"}
    zone_input = {"id": "display-tz", "property": "value", "value": "America/New_York"}
    with db.session() as s:
        row = s.get(PipelineRun, going.id)
        row.status, row.finished_at, row.duration_ms = "succeeded", now, 5000.0
    r = _poll(viewer, token)
    assert r.status_code == 200  # the run ended: the token moved
    moved = json.loads(r.data)["response"]["live-token"]["data"]
    r = viewer.callback(
        follow,
        [{"id": "live-token", "property": "data", "value": moved}, zone_input],
        state=[{"id": "run-live", "property": "data", "value": live}],
    )
    props = json.loads(r.data)["response"]
    assert props["run-live"]["data"]["status"] == "succeeded"
    assert "succeeded" in json.dumps(props["run-body"])
    r = viewer.callback(  # a finished run's page stays as it is
        follow,
        [{"id": "live-token", "property": "data", "value": "x"}, zone_input],
        state=[{"id": "run-live", "property": "data", "value": props["run-live"]["data"]}],
    )
    assert r.status_code in (200, 204) and not _response(r)
