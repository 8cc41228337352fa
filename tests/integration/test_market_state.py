"""The market's state on every page: the pill says open with the next first pitch, or closed with
when lines go up (or the off-season with the real feed); the freshness card is greyed with the
reason while nothing is due (both databases, on the app's injected clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Game
from app.queries.market import market_view

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def _game(key: str, starts: datetime, status: str = "scheduled", source: str = "odds") -> Game:
    return Game(
        game_key=key,
        home="NYY",
        away="BOS",
        commence_time=starts,
        status=status,
        start_time_source=source,
        updated_at=NOW - timedelta(hours=1),
    )


@pytest.fixture
def at_now(app):
    app.extensions["dugout.clock"] = lambda: NOW
    return app


def _props(response) -> dict:
    assert response.status_code == 200, response.data
    return json.loads(response.data)["response"]


def _pill(client) -> str:
    r = client.callback(
        "market-state.children",
        [
            {"id": "shell-refresh", "property": "n_intervals", "value": 1},
            {"id": "_pages_location", "property": "pathname", "value": "/"},
        ],
    )
    return json.dumps(_props(r))


def test_the_market_is_open_while_a_game_is_due_and_says_when_lines_go_up_otherwise(db) -> None:
    with db.session() as s:
        assert market_view(s, NOW, "demo").reason.startswith("no games known yet")
        assert "off-season" in market_view(s, NOW, "odds_api").reason
        s.add(_game("late", NOW + timedelta(hours=9)))
        s.add(_game("placeholder", NOW + timedelta(hours=1), source="tbd"))
        s.add(_game("done", NOW - timedelta(hours=4), status="final"))
        s.add(_game("playing", NOW - timedelta(hours=1), status="live"))
        s.commit()
        closed = market_view(s, NOW, "odds_api")
        assert (closed.status, closed.in_play) == ("closed", 1)
        assert closed.next_first_pitch == NOW + timedelta(hours=9)
        assert closed.opens_at == NOW + timedelta(hours=3)
        assert "10:00 UTC" in closed.reason
        s.add(_game("soon", NOW + timedelta(hours=5)))
        s.commit()
        opened = market_view(s, NOW, "odds_api")
        assert opened.is_open and opened.next_first_pitch == NOW + timedelta(hours=5)


def test_every_page_shows_the_pill_and_the_freshness_card_is_idle_while_closed(
    at_now, db, login_as
) -> None:
    viewer = login_as("viewer")
    with db.session() as s:
        s.add(_game("late", NOW + timedelta(hours=9)))
        s.commit()
    pill = _pill(viewer)
    assert "Market closed" in pill and "lines up Tue 10:00 UTC (in 3 h 00)" in pill
    health = _props(
        viewer.callback(
            "..overview-slo.children...overview-alerts.children...overview-scheduler.children..."
            "overview-checks.children..",
            [{"id": "overview-refresh", "property": "n_intervals", "value": 1}],
        )
    )
    slo = json.dumps(health["overview-slo"])
    assert "slo-card-idle" in slo and "Idle: market closed: nothing is due until" in slo
    assert slo.count("slo-card-idle") == 1  # only freshness waits on the market

    with db.session() as s:
        s.add(_game("soon", NOW + timedelta(minutes=90)))
        s.commit()
    pill = _pill(viewer)
    assert "Market open" in pill and "next first pitch 08:30 UTC (in 1 h 30)" in pill
    health = _props(
        viewer.callback(
            "..overview-slo.children...overview-alerts.children...overview-scheduler.children..."
            "overview-checks.children..",
            [{"id": "overview-refresh", "property": "n_intervals", "value": 1}],
        )
    )
    assert "slo-card-idle" not in json.dumps(health["overview-slo"])
