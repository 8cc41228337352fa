"""The audit page (admin): filtered by actor, action, outcome and time; each scheduler request
shows its outcome and each outcome names its request."""

from __future__ import annotations

import json
from datetime import timedelta

from app.audit import AuditEntry, append_audit, audit_log
from app.db import utcnow

AUDIT = "..admin-audit.children...audit-action.options...audit-outcome.options.."
BLOCK = "audit-table.getRowsResponse"
FIRST = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}


def _table(client, actor=None, action=None, outcome=None, window="all", request=None):
    """The records the audit grid's first block holds, and the filters' choices."""
    filters = [
        {"id": "audit-actor", "property": "value", "value": actor},
        {"id": "audit-action", "property": "value", "value": action},
        {"id": "audit-outcome", "property": "value", "value": outcome},
        {"id": "audit-window", "property": "value", "value": window},
    ]
    r = client.callback(
        AUDIT, [{"id": "admin-audit-refresh", "property": "n_intervals", "value": 1}, *filters]
    )
    assert r.status_code == 200, r.data
    response = json.loads(r.data)["response"]
    options = {o["value"] for o in response["audit-action"]["options"]}
    outcomes = {o["value"] for o in response["audit-outcome"]["options"]}
    grid = [{"id": "audit-table", "property": "getRowsRequest", "value": request or FIRST}]
    zone = {"id": "display-tz", "property": "value", "value": "UTC"}
    r = client.callback(BLOCK, grid, state=[*filters, zone])
    assert r.status_code == 200, r.data
    rows = json.loads(r.data)["response"]["audit-table"]["getRowsResponse"]["rowData"]
    return rows, options, outcomes


def _write(app, actor, action, outcome, *, at=None, request_seq=None) -> int:
    entry = AuditEntry(actor=actor, action=action, outcome=outcome, request_seq=request_seq)
    return append_audit(audit_log(app), entry, now=at).seq


def test_the_audit_table_filters_by_actor_action_outcome_and_time(app, login_as) -> None:
    admin = login_as("admin")  # its login is a record too
    old = utcnow() - timedelta(days=3)
    pause = _write(app, "otto_op", "pause", "requested", at=old)
    _write(app, "otto_op", "pause", "succeeded", at=old, request_seq=pause)
    run = _write(app, "Rita", "run_now", "requested")
    _write(app, "Rita", "run_now", "failed", request_seq=run)
    _write(app, "vera", "kill_switch", "denied")
    rows, actions, outcomes = _table(admin)
    assert {"pause", "run_now", "kill_switch", "login"} <= actions
    assert {"requested", "succeeded", "failed", "denied"} <= outcomes
    linked = {r["seq"]: r["linked"] for r in rows}
    assert (
        linked[pause] == f"succeeded #{pause + 1}" and linked[pause + 1] == f"outcome of #{pause}"
    )
    assert linked[run] == f"failed #{run + 1}"

    def seqs(**filters) -> list[int]:
        return [r["seq"] for r in _table(admin, **filters)[0]]

    assert seqs(actor="OTTO_") == [pause + 1, pause]  # part of the name, any case, _ literal
    assert seqs(actor="o%") == []  # a wildcard is a character like any other
    assert seqs(action="run_now") == [run + 1, run]
    assert seqs(outcome="denied") == [run + 2]
    assert seqs(action="pause", window="24h") == []  # three days old
    assert seqs(action="pause", window="7d") == [pause + 1, pause]
    assert seqs(actor="nobody")[:1] == []


def test_odd_filter_values_never_break_the_page(app, login_as) -> None:
    admin = login_as("admin")
    rows, _, _ = _table(admin, actor=["x"], action=7, outcome={"a": 1}, window="forever")
    assert rows  # ignored, not a 500: the default window shows the admin's login


def test_the_audit_grid_pages_and_sorts_on_the_server(app, login_as) -> None:
    admin = login_as("admin")
    seqs = [_write(app, f"actor{i:02d}", "pause", "requested") for i in range(5)]
    page = {**FIRST, "endRow": 2}
    first = [r["seq"] for r in _table(admin, action="pause", request=page)[0]]
    assert first == seqs[::-1][:2]  # newest first, two asked for, two sent
    rest = {**FIRST, "startRow": 2, "endRow": 100}
    assert [r["seq"] for r in _table(admin, action="pause", request=rest)[0]] == seqs[::-1][2:]
    by_actor = {**FIRST, "sortModel": [{"colId": "actor", "sort": "asc"}]}
    assert [r["seq"] for r in _table(admin, action="pause", request=by_actor)[0]] == seqs
    hostile = {**FIRST, "sortModel": [{"colId": "seq; DELETE FROM audit_log", "sort": "asc"}]}
    assert [r["seq"] for r in _table(admin, action="pause", request=hostile)[0]] == seqs[::-1]
