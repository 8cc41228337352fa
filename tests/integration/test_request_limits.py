"""Request limits and clean errors: malformed requests to every route answer 400, 404 or 413
with a short error and no traceback in the log; hypothesis fuzzes the Dash endpoint and the API."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Client

CLEAN = {400, 401, 403, 404, 405, 413}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture
def tracebacks(caplog):
    """The log records of this test that carry a traceback."""
    caplog.set_level(logging.WARNING)
    return lambda: [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_a_big_callback_body_is_refused_before_it_is_parsed(login_as, tracebacks) -> None:
    """Before the fix a 10 MB callback body was parsed."""
    operator = login_as("operator")
    body = {"output": "job-outcome.children", "inputs": [], "padding": "x" * (1024 * 1024)}
    r = operator.post_json("/_dash-update-component", body)
    assert r.status_code == 413 and r.json == {"error": "request entity too large"}
    assert tracebacks() == []


def test_wrong_shaped_callback_requests_answer_400_without_a_traceback(
    login_as, tracebacks
) -> None:
    """Before the fix each of these gave a 500 with a traceback."""
    viewer = login_as("viewer")
    bad = [
        [],
        {"output": 5},
        {"output": "no-such-output.children", "inputs": []},
        {"output": "opp-table.getRowsResponse", "inputs": "x"},
        {"output": "kill-switch-banner.children", "inputs": [{"id": 1}]},
        {"output": "kill-switch-banner.children", "inputs": [{"id": "a", "property": "b"}]},
    ]
    for body in bad:
        r = viewer.post_json("/_dash-update-component", body)
        assert r.status_code == 400 and "error" in r.json, body
    r = viewer.http.post(
        "/_dash-update-component",
        data="{not json",
        headers={"X-CSRFToken": viewer.csrf(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert tracebacks() == []


def test_forged_filter_values_of_the_wrong_type_answer_400(login_as, tracebacks) -> None:
    """Before the fix a dict where a number belongs gave a 500 with a traceback."""
    viewer = login_as("viewer")
    r = viewer.callback(
        "..opp-ev-hist-figure.data...opp-latency-hist-figure.data..",
        [
            {"id": "opp-strategy", "property": "value", "value": None},
            {"id": "opp-min-ev", "property": "value", "value": {"a": 1}},
            {"id": "opp-book", "property": "value", "value": None},
            {"id": "opp-refresh", "property": "n_intervals", "value": 1},
            {"id": "opp-all-ev", "property": "value", "value": False},
        ],
    )
    assert r.status_code == 400 and r.json["error"]
    r = viewer.callback(
        "opp-table.getRowsResponse",
        [{"id": "opp-table", "property": "getRowsRequest", "value": {"startRow": 0}}],
        state=[
            {"id": "opp-strategy", "property": "value", "value": None},
            {"id": "opp-min-ev", "property": "value", "value": {"a": 1}},
            {"id": "opp-book", "property": "value", "value": None},
            {"id": "opp-all-ev", "property": "value", "value": False},
            {"id": "display-tz", "property": "value", "value": None},
        ],
    )
    assert r.status_code == 400 and r.json["error"]
    assert tracebacks() == []


def test_too_long_values_and_queries_are_refused(login_as, anon) -> None:
    viewer = login_as("viewer")
    r = viewer.callback(
        "kill-switch-banner.children",
        [
            {"id": "shell-refresh", "property": "n_intervals", "value": 1},
            {"id": "_pages_location", "property": "pathname", "value": "/" + "a" * 5000},
        ],
    )
    assert r.status_code == 400
    assert viewer.http.get("/api/runs?pipeline=" + "x" * 5000).status_code == 400
    assert anon.http.get("/healthz?" + "&".join(f"a{i}=1" for i in range(100))).status_code == 400


def test_a_nul_character_anywhere_in_a_request_answers_400(login_as, anon, tracebacks) -> None:
    """Before the fix /api/alerts?severity=%00x reached PostgreSQL, which refuses NUL in any
    text, and answered 500 with a traceback (found by the schema fuzzer)."""
    viewer = login_as("viewer")
    for url in ("/api/alerts?severity=%00%7B", "/api/runs?pipeline=a%00b", "/api/runs?%00=1"):
        r = viewer.http.get(url)
        assert r.status_code == 400, url
        assert r.json == {"error": "query: a text value contains a NUL character"}, url
    r = viewer.callback(
        "kill-switch-banner.children",
        [
            {"id": "shell-refresh", "property": "n_intervals", "value": 1},
            {"id": "_pages_location", "property": "pathname", "value": "/\x00"},
        ],
    )
    assert r.status_code == 400
    assert r.json == {"error": "inputs: a text value contains a NUL character"}
    token = anon.csrf()
    r = anon.http.post(
        "/login",
        data={"username": "ad\x00min", "password": "x", "csrf_token": token, "next": "/"},
    )
    assert r.status_code == 400 and b"NUL" in r.data
    operator = login_as("operator")
    r = operator.post_json("/api/jobs/grading/pause", {"reason": "a\x00b"})
    assert r.status_code == 400
    assert r.json == {"error": "body: a text value contains a NUL character"}
    assert viewer.http.get("/api/alerts?severity=page").status_code == 200  # the clean request
    assert tracebacks() == []


def test_unknown_routes_answer_a_short_404(login_as, anon) -> None:
    viewer = login_as("viewer")
    r = viewer.http.get("/api/nothing-here")
    assert r.status_code == 404 and r.json == {"error": "not found"}
    r = anon.http.get("/assets/nothing-here.css")
    assert r.status_code == 404 and len(r.data) < 100


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=JSON_VALUES)
def test_fuzzed_callback_bodies_never_500(app, make_user, body) -> None:
    client = _session(app, make_user)
    r = client.post_json("/_dash-update-component", body)
    assert r.status_code in CLEAN | {200, 204}, (body, r.status_code)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    inputs=st.lists(
        st.fixed_dictionaries(
            {
                "id": st.sampled_from(
                    ["opp-strategy", "opp-min-ev", "opp-book", "opp-refresh", "opp-all-ev"]
                ),
                "property": st.sampled_from(["value", "n_intervals"]),
                "value": JSON_VALUES,
            }
        ),
        min_size=5,
        max_size=5,
    )
)
def test_fuzzed_callback_values_never_500(app, make_user, inputs) -> None:
    client = _session(app, make_user)
    r = client.callback("..opp-ev-hist-figure.data...opp-latency-hist-figure.data..", inputs)
    assert r.status_code in CLEAN | {200, 204}, (inputs, r.status_code, r.data[:200])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=JSON_VALUES, book=JSON_VALUES)
def test_fuzzed_grid_block_requests_never_500(app, make_user, request, book) -> None:
    """A grid's block request is the browser's to forge: sort keys, filters, row numbers."""
    client = _session(app, make_user)
    state = [
        {"id": "runs-pipeline", "property": "value", "value": book},
        {"id": "runs-status", "property": "value", "value": None},
        {"id": "runs-trigger", "property": "value", "value": None},
        {"id": "runs-range", "property": "value", "value": "24h"},
        {"id": "display-tz", "property": "value", "value": "America/New_York"},
    ]
    r = client.callback(
        "..runs-history.getRowsResponse...runs-count.children..",
        [{"id": "runs-history", "property": "getRowsRequest", "value": request}],
        state=state,
    )
    assert r.status_code in CLEAN | {200, 204}, (request, r.status_code, r.data[:200])


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(["/api/runs", "/api/alerts", "/api/slo", "/api/runs/", "/api/health"]),
    tail=st.text(max_size=12),
    params=st.dictionaries(
        st.sampled_from(
            ["limit", "offset", "since", "until", "pipeline", "status", "trigger", "severity"]
        ),
        st.text(max_size=30),
        max_size=4,
    ),
)
def test_fuzzed_api_requests_never_500(app, make_user, path, tail, params) -> None:
    client = _session(app, make_user)
    # the tail is sent as a client sends it: percent-encoded ("?" or "#" in it are path text)
    url = path + (quote(tail, safe="") if path.endswith("/") else "")
    r = client.http.get(url, query_string=params)
    assert r.status_code in CLEAN | {200}, (url, params, r.status_code)
    assert r.is_json, (url, r.data[:100])


_SESSIONS: dict[int, Client] = {}


def _session(app, make_user) -> Client:
    """One logged-in viewer per app (hypothesis reuses the function-scoped app)."""
    client = _SESSIONS.get(id(app))
    if client is None or client.app is not app:
        client = Client(app)
        client.username = make_user("viewer")
        assert client.login(client.username).status_code == 302
        _SESSIONS.clear()
        _SESSIONS[id(app)] = client
    return client


def test_error_bodies_are_short_json_for_the_api(login_as) -> None:
    viewer = login_as("viewer")
    r = viewer.http.post("/api/runs", headers={"X-CSRFToken": viewer.csrf()})
    assert r.status_code == 405 and json.loads(r.data) == {"error": "method not allowed"}
