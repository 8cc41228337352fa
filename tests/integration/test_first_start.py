"""The first start of an empty embedded demo instance replays its market's recent history
before serving, at any hour: the overview then shows runs and opportunities (on an injected
clock) and no SLO card burns because of the demo's own day. A second start, or an instance on
PostgreSQL (not embedded), replays nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from app import create_app
from app.accounts import add_user
from app.cli import Context, first_start_seed
from tests.conftest import PASSWORD, Client

HOURS = 3  # a day by default (DUGOUT_DEMO_SEED_HOURS); three hours keep the test short
STARTS = {
    "december-07utc": datetime(2026, 12, 1, 7, 0, tzinfo=UTC),  # MLB's market is closed
    "july-evening": datetime(2026, 7, 4, 23, 30, tzinfo=UTC),
}


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """The environment of `make run`: demo source, the embedded SQLite file under var_dir."""
    monkeypatch.setenv("DUGOUT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DUGOUT_DATABASE_URL", raising=False)
    monkeypatch.setenv("DUGOUT_SOURCE", "demo")
    monkeypatch.setenv("DUGOUT_DEMO_SEED_HOURS", str(HOURS))
    monkeypatch.setenv("DUGOUT_LOG_LEVEL", "WARNING")
    return tmp_path / "var"


def _viewer(app) -> Client:
    with app.extensions["dugout.db"].session() as session:
        add_user(session, "newcomer", PASSWORD, "viewer")
    client = Client(app)
    assert client.login("newcomer").status_code == 302
    return client


def _props(response) -> dict:
    assert response.status_code == 200, response.data
    return json.loads(response.data)["response"]


@pytest.mark.parametrize("start", list(STARTS.values()), ids=list(STARTS))
def test_a_first_start_at_any_hour_shows_runs_and_opportunities(
    embedded, monkeypatch, start
) -> None:
    report = first_start_seed(Context(), start)
    assert report is not None
    assert report.runs == HOURS * 60 and report.opportunities > 0 and report.stop == start
    assert first_start_seed(Context(), start) is None  # history exists: a restart replays nothing

    app = create_app({"var_dir": str(embedded), "testing": True, "scheduler_enabled": False})
    try:
        app.extensions["dugout.clock"] = lambda: start  # the newcomer's moment, on every page
        viewer = _viewer(app)
        overview = _props(
            viewer.callback(
                "..overview-cards.children...overview-runs.children...overview-latency-figure.data..."
                "overview-success-figure.data...overview-freshness-figure.data..",
                [
                    {"id": "overview-refresh", "property": "n_intervals", "value": 1},
                    {"id": "overview-window", "property": "value", "value": "24h"},
                    {"id": "overview-percentile", "property": "value", "value": "p95"},
                    {"id": "live-token", "property": "data", "value": None},
                    {"id": "display-tz", "property": "value", "value": "America/New_York"},
                ],
            )
        )
        cards = json.dumps(overview["overview-cards"])
        assert "overview-empty" not in cards and "full" in cards
        runs = json.dumps(overview["overview-runs"])
        assert '"status": "succeeded"' in runs
        health = _props(
            viewer.callback(
                "..overview-slo.children...overview-alerts.children...overview-scheduler.children..."
                "overview-checks.children..",
                [{"id": "overview-refresh", "property": "n_intervals", "value": 1}],
            )
        )
        slo = json.dumps(health["overview-slo"])
        assert "border-danger" not in slo and "Alert:" not in slo  # the demo meets its SLOs
        names = re.findall(r'"id": "slo-(?!cards)(\w+)"', slo)
        events = dict(zip(names, re.findall(r"(\d+) events", slo), strict=True))
        assert int(events["opportunity_detection"]) >= report.opportunities  # on the overview
        assert "No alerts firing" in json.dumps(health["overview-alerts"])
    finally:
        keeper = app.extensions.get("dugout.rollups")
        if keeper is not None:
            keeper.stop()


def test_no_first_start_replay_outside_the_embedded_demo(embedded, monkeypatch) -> None:
    monkeypatch.setenv("DUGOUT_DEMO_SEED_HOURS", "0")
    assert first_start_seed(Context(), STARTS["july-evening"]) is None  # turned off
    monkeypatch.setenv("DUGOUT_DEMO_SEED_HOURS", str(HOURS))
    monkeypatch.setenv("DUGOUT_SOURCE", "odds_api")
    assert first_start_seed(Context(), STARTS["july-evening"]) is None  # real feeds
    monkeypatch.setenv("DUGOUT_SOURCE", "demo")
    monkeypatch.setenv("DUGOUT_DEMO_SEED_HOURS", "49")
    with pytest.raises(Exception, match="DUGOUT_DEMO_SEED_HOURS"):
        Context().settings  # noqa: B018 - a bad value stops the start, naming the variable


def test_a_first_start_whose_replay_took_minutes_catches_up_before_serving(
    embedded, monkeypatch
) -> None:
    import app.db

    start = STARTS["july-evening"]
    calls = []

    def clock() -> datetime:  # the replay took five minutes of the wall clock
        calls.append(1)
        return start if len(calls) == 1 else start + timedelta(minutes=5)

    monkeypatch.setenv("DUGOUT_DEMO_SEED_HOURS", "0.5")
    monkeypatch.setattr(app.db, "utcnow", clock)
    report = first_start_seed(Context(), start)
    assert report is not None
    assert report.runs == 30 + 5 and report.stop == start + timedelta(minutes=5)
