"""Reasons everywhere (SQLite and PostgreSQL): a skipped or throttled tick and the runs chained
after it carry their reason into the runs tables, the status picture and each job's last status
(the chained analysis and recommendations jobs included, which used to read "—")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.models import JobSchedule
from app.pipelines.ledger import record_skip
from app.queries.runs import last_scheduled_runs, recent_runs
from components.status import jobs_table


def _skips(db, tick: datetime) -> None:
    sessions = db.sessionmaker
    for pipeline, trigger, reason in (
        ("collection", "schedule", "throttled: 4 runs in flight"),
        ("analysis", "dependency", "upstream collection skipped: throttled: 4 runs in flight"),
        (
            "recommendations",
            "dependency",
            "upstream analysis skipped: upstream collection skipped: throttled: 4 runs in flight",
        ),
    ):
        record_skip(
            sessions, pipeline, trigger=trigger, scheduled_for=tick, reason=reason, now=tick
        )


def test_skip_reasons_reach_tables_status_and_jobs(db, login_as) -> None:
    tick = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    _skips(db, tick)
    with db.session() as s:
        rows = {r.pipeline: r for r in recent_runs(s, 10)}
        last = last_scheduled_runs(s, ["collection", "analysis", "recommendations"])
        s.add_all(
            JobSchedule(job_id=p, pipeline=p, interval_s=60 if p == "collection" else 0)
            for p in ("collection", "analysis", "recommendations")
        )
    assert rows["collection"].reason == "throttled: 4 runs in flight"
    assert rows["analysis"].reason.startswith("upstream collection skipped: throttled")
    assert {p: (t.status, t.reason[:8]) for p, t in last.items()} == {
        "collection": ("skipped", "throttle"),
        "analysis": ("skipped", "upstream"),
        "recommendations": ("skipped", "upstream"),
    }

    # the run history table (the Pipelines page's callback) shows the reason, in words
    viewer = login_as("viewer")
    out = "..runs-history.getRowsResponse...runs-count.children.."
    request = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
    state = [
        {"id": "runs-pipeline", "property": "value", "value": None},
        {"id": "runs-status", "property": "value", "value": "skipped"},
        {"id": "runs-trigger", "property": "value", "value": None},
        {"id": "runs-range", "property": "value", "value": "24h"},
        {"id": "display-tz", "property": "value", "value": "America/New_York"},
    ]
    grid = [{"id": "runs-history", "property": "getRowsRequest", "value": request}]
    r = viewer.callback(out, grid, state=state)
    assert r.status_code == 200, r.data
    history = json.loads(r.data)["response"]["runs-history"]["getRowsResponse"]["rowData"]
    assert {h["pipeline"]: h["reason"] for h in history}["collection"] == (
        "throttled: 4 runs in flight"
    )
    assert all("{" not in h["reason"] for h in history)

    # the scheduler's job table: a last status for every job, chained ones too, with why
    from scheduler.status import scheduler_status

    status = scheduler_status(viewer.app, datetime.now(UTC))
    table = jobs_table(status["jobs"]).rowData
    by_job = {row["job_id"]: row for row in table}
    assert {j: row["last_status"] for j, row in by_job.items()} == {
        "collection": "skipped",
        "analysis": "skipped",
        "recommendations": "skipped",
    }
    assert by_job["analysis"]["last_reason"].startswith("upstream collection skipped")
