"""The run page (SQLite and PostgreSQL): the run's log lines kept in `run_logs` (level filter,
bounded per run, pruned after the retention period), its stage detail in words, the operator's
reason, the runs of its tick, what it wrote, and the trace link."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.config import ConfigError, load_settings
from app.models import RunLogLine
from app.observability.logging import correlation_id_var, log_context_var
from app.observability.run_logs import RunLogHandler
from app.pipelines.context import PipelineContext
from app.pipelines.ledger import record_skip
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.strategies import build_strategies

TEMPLATE = "http://jaeger.example:16686/trace/{trace_id}"


@pytest.fixture
def app(make_app):
    """This module's app links trace ids to a (pretend) Jaeger."""
    return make_app(trace_url_template=TEMPLATE)


def _props(response) -> dict:
    assert response.status_code == 200, response.data
    return json.loads(response.data)["response"]


def _run(db, now: datetime, tick: datetime | None = None, **kw) -> uuid.UUID:
    demo = DemoSource(seed=3, day=(now - timedelta(hours=6)).date())
    ctx = PipelineContext(
        sessions=db.sessionmaker, clock=lambda: now, sources=[demo], strategies=build_strategies()
    )
    trigger = "schedule" if tick else "manual"
    return run_pipeline(ctx, "full", trigger, scheduled_for=tick, **kw).run_id


def test_run_page_shows_its_log_lines_detail_family_and_what_it_wrote(app, db, login_as) -> None:
    now = datetime.now(UTC)
    tick = now.replace(microsecond=0)
    run_id = _run(db, now, tick, actor="otto", params={"reason": "odds look stale"})
    record_skip(
        db.sessionmaker,
        "analysis",
        trigger="dependency",
        scheduled_for=tick,
        reason="upstream full skipped: test",
        now=now + timedelta(seconds=1),
    )
    app.extensions["dugout.run_logs"].flush()

    viewer = login_as("viewer")
    page = json.dumps(_props(viewer.page(f"/pipelines/{run_id}")))
    assert "run started" in page and "stage finished" in page  # its log lines, INFO and up
    assert '"run-logs"' in page
    assert "odds look stale" in page and "run-operator-reason" in page
    assert "downstream analysis (dependency)" in page  # the run chained after it in its tick
    assert "upstream full skipped: test" in page
    assert '"run-written"' in page and "opportunities" in page and "snapshots" in page
    assert "sources" in page and "stage-collect" in page  # per-source counts as a table
    assert "{'" not in page  # no Python dict anywhere

    # the level filter: WARNING and up hides the INFO lines
    r = viewer.callback(
        "run-logs-box.children",
        [{"id": "run-log-level", "property": "value", "value": "WARNING"}],
        state=[
            {"id": "run-log-id", "property": "data", "value": {"id": str(run_id), "cid": None}},
            {"id": "display-tz", "property": "value", "value": "America/New_York"},
        ],
    )
    filtered = json.dumps(_props(r))
    assert "run started" not in filtered and "run-logs-empty" in filtered

    # the trace id links to the tracing UI
    with db.session() as s:
        from app.models import PipelineRun

        trace_id = s.get(PipelineRun, run_id).trace_id
    if trace_id:  # the test tracer provider gives runs a trace id
        assert TEMPLATE.replace("{trace_id}", trace_id) in page


def test_unknown_and_malformed_run_ids_say_so(login_as) -> None:
    viewer = login_as("viewer")
    for rid in (str(uuid.uuid4()), "not-a-uuid", "%27%3B--"):
        page = json.dumps(_props(viewer.page(f"/pipelines/{rid}")))
        assert "run-missing" in page


def test_run_logs_are_bounded_per_run_and_pruned(db) -> None:
    now = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)
    handler = RunLogHandler(
        db.sessionmaker, max_lines_per_run=10, retention=timedelta(days=2), start=False
    )
    log = logging.getLogger("dugout.test.run_logs")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False  # the app's own run-log handler (on the root logger) stores nothing of it
    run_id = uuid.uuid4()
    try:
        cid = correlation_id_var.set("c" * 32)
        ctx = log_context_var.set({"run_id": str(run_id), "pipeline": "full"})
        try:
            for i in range(25):
                log.info("line %d", i, extra={"stage": "collect", "n": i})
        finally:
            log_context_var.reset(ctx)
            correlation_id_var.reset(cid)
        log.info("no correlation id: not kept")
        handler.flush()
    finally:
        log.removeHandler(handler)
        log.propagate = True
        handler.close()
    with db.session() as s:
        # this run's lines (the app's own handler may store its requests' lines beside them)
        mine = select(RunLogLine).where(RunLogLine.run_id == run_id)
        rows = s.scalars(mine.order_by(RunLogLine.id)).all()
        assert len(rows) == 11 and rows[0].message == "line 0" and rows[0].fields["n"] == 0
        assert "later lines of this run dropped" in rows[-1].message
        for r in rows[:5]:
            r.at = now - timedelta(days=3)
    assert handler.prune(now) == 5
    with db.session() as s:
        assert len(s.scalars(mine).all()) == 6


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DUGOUT_TRACE_URL_TEMPLATE", "jaeger/trace"),
        ("DUGOUT_TRACE_URL_TEMPLATE", "javascript:alert(1)//{trace_id}"),
        ("DUGOUT_RUN_LOG_LEVEL", "LOUD"),
        ("DUGOUT_RUN_LOG_MAX_LINES", "2"),
        ("DUGOUT_RUN_LOG_RETENTION_DAYS", "0"),
    ],
)
def test_bad_run_page_settings_stop_the_start_naming_the_variable(name, value) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: value})


FOLLOW = "..run-body.children...run-gantt-figure.data...run-details.children...run-live.data.."


def test_run_page_and_runs_grid_follow_the_viewers_time_zone(app, db, login_as) -> None:
    """The page is drawn on the server in the instance's zone; the viewer's own choice (kept in
    the browser) re-draws its times, its log lines' too, and the runs grid's rows; the same
    zone again changes nothing."""
    now = datetime(2026, 7, 4, 18, 30, 5, 250000, tzinfo=UTC)
    run_id = _run(db, now, now.replace(microsecond=0))
    app.extensions["dugout.run_logs"].flush()
    viewer = login_as("viewer")
    page = json.dumps(_props(viewer.page(f"/pipelines/{run_id}")))
    assert "2026-07-04 14:30:05.000 EDT" in page  # the tick, in the default America/New_York

    drawn = {"id": str(run_id), "status": "succeeded", "tz": "America/New_York"}

    def follow(zone: str, live: dict) -> dict:
        return (
            _props(
                viewer.callback(
                    FOLLOW,
                    [
                        {"id": "live-token", "property": "data", "value": "t"},
                        {"id": "display-tz", "property": "value", "value": zone},
                    ],
                    state=[{"id": "run-live", "property": "data", "value": live}],
                )
            )
            if zone != live["tz"]
            else {}
        )

    props = follow("America/Los_Angeles", drawn)
    body = json.dumps(props["run-body"]) + json.dumps(props["run-details"])
    assert "2026-07-04 11:30:05.000 PDT" in body and "EDT" not in body
    assert props["run-live"]["data"]["tz"] == "America/Los_Angeles"
    again = viewer.callback(  # drawn in that zone already: nothing to send
        FOLLOW,
        [
            {"id": "live-token", "property": "data", "value": "t2"},
            {"id": "display-tz", "property": "value", "value": "America/Los_Angeles"},
        ],
        state=[{"id": "run-live", "property": "data", "value": props["run-live"]["data"]}],
    )
    assert again.status_code == 204 or not json.loads(again.data).get("response")

    # a zone the browser made up falls back to the instance's
    odd = follow("Mars/Olympus", drawn)
    assert odd == {} or "EDT" in json.dumps(odd)

    # the log level filter keeps the viewer's zone
    r = viewer.callback(
        "run-logs-box.children",
        [{"id": "run-log-level", "property": "value", "value": "DEBUG"}],
        state=[
            {"id": "run-log-id", "property": "data", "value": {"id": str(run_id), "cid": None}},
            {"id": "display-tz", "property": "value", "value": "UTC"},
        ],
    )
    logs = json.dumps(_props(r))
    stamps = re.findall(r'"at": "([^"]*)"', logs)  # the log records' own (wall clock) times
    assert stamps and all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", t) for t in stamps
    )

    # the runs grid's block, in the viewer's zone
    rows = _props(
        viewer.callback(
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
                {"id": "runs-status", "property": "value", "value": None},
                {"id": "runs-trigger", "property": "value", "value": None},
                {"id": "runs-range", "property": "value", "value": "all"},
                {"id": "display-tz", "property": "value", "value": "America/Chicago"},
            ],
        )
    )["runs-history"]["getRowsResponse"]["rowData"]
    mine = next(r for r in rows if r["id"] == str(run_id))
    assert mine["started_at"] == "2026-07-04 13:30 CDT"
