"""The odds screen's callbacks through /_dash-update-component: the cards, the game picker,
the line history, and junk from the browser answered without a 500."""

from __future__ import annotations

import json

from tests.integration.test_odds_queries import NOW, market  # noqa: F401 (fixture)


def _props(r) -> dict:
    assert r.status_code == 200, r.data
    return json.loads(r.data)["response"]


def test_cards_picker_and_history(app, login_as, market) -> None:  # noqa: F811
    app.extensions["dugout.clock"] = lambda: NOW
    viewer = login_as("viewer")
    props = _props(
        viewer.callback(
            "..odds-boards.children...odds-game.options..",
            [
                {"id": "odds-refresh", "property": "n_intervals", "value": 1},
                {"id": "display-tz", "property": "value", "value": "America/New_York"},
            ],
        )
    )
    cards = json.dumps(props["odds-boards"]["children"])
    assert "Boston Red Sox @ Seattle Mariners" in cards and "odds-best" in cards
    assert "Fair (sharp)" in cards and "open -125" in cards and "2026-07-04 16:00 EDT" in cards
    assert "/odds?game=g1" in cards  # a card's link chooses its game (kept in the address)
    assert props["odds-game"]["options"] == [{"label": "BOS @ SEA 07-04", "value": "g1"}]
    chart = _props(
        viewer.callback(
            "odds-history-figure.data",
            [
                {"id": "odds-game", "property": "value", "value": "g1"},
                {"id": "odds-market", "property": "value", "value": "totals"},
                {"id": "display-tz", "property": "value", "value": "UTC"},
            ],
            state=[
                {"id": "odds-game", "property": "options", "value": props["odds-game"]["options"]}
            ],
        )
    )
    traces = chart["odds-history-figure"]["data"]["data"]
    assert {t["name"] for t in traces} >= {"Pinnacle over", "DraftKings under"}
    junk = viewer.callback(
        "odds-history-figure.data",
        [
            {"id": "odds-game", "property": "value", "value": {"x": 1}},
            {"id": "odds-market", "property": "value", "value": "'; drop"},
            {"id": "display-tz", "property": "value", "value": 5},
        ],
        state=[{"id": "odds-game", "property": "options", "value": "nonsense"}],
    )
    assert junk.status_code == 200


def test_the_address_chooses_the_game(login_as, market) -> None:  # noqa: F811
    r = login_as("viewer").callback(
        ".._pages_content.children..._pages_store.data..",
        [
            {"id": "_pages_location", "property": "pathname", "value": "/odds"},
            {"id": "_pages_location", "property": "search", "value": "?game=g1"},
        ],
    )
    page = json.dumps(_props(r))
    assert '"value": "g1"' in page
