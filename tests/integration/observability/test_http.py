"""/metrics (open or token), HTTP metrics and spans for every request (refused ones too), and
Dash callbacks timed and traced under their own function names."""

from __future__ import annotations

import pytest

from tests.integration.observability.conftest import sample

PROBE = ("obs-probe-out.children", [{"id": "obs-probe-in", "property": "n_clicks", "value": 1}])


def obs_probe(n_clicks: int | None) -> str:
    """A callback of the test's own (page callbacks register only in a process's first app)."""
    return f"clicked {n_clicks}"


@pytest.fixture
def probe(app) -> str:
    """Register obs_probe on this app's Dash instance; returns its expected label."""
    from dash import Input, Output

    app.extensions["dugout.dash"].callback(
        Output("obs-probe-out", "children"), Input("obs-probe-in", "n_clicks")
    )(obs_probe)
    return f"{obs_probe.__module__}.obs_probe"


def test_metrics_are_open_by_default_and_do_not_count_themselves(app, anon) -> None:
    anon.http.get("/healthz")
    r = anon.http.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    assert 'flask_http_request_total{method="GET",status="200"}' in text
    assert "dugout_slo_events_total" in text and "dugout_ledger_up 1.0" in text
    assert 'url_rule="/metrics"' not in anon.http.get("/metrics").get_data(as_text=True)


def test_metrics_token_is_required_when_set(make_obs_app) -> None:
    client = make_obs_app(metrics_token="s3cret-token").test_client()
    assert client.get("/metrics").status_code == 401
    r = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    r = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert r.status_code == 200 and b"flask_http_request_total" in r.data


def test_refused_requests_get_metrics_and_spans_with_the_correlation_id(app, anon, spans) -> None:
    spans.clear()
    r = anon.http.get("/api/runs", headers={"X-Request-ID": "cid-refused-1"})
    assert r.status_code == 401 and r.headers["X-Request-ID"] == "cid-refused-1"
    assert sample(app, "flask_http_request_total", method="GET", status="401") == 1
    assert (
        sample(
            app,
            "flask_http_request_duration_seconds_count",
            method="GET",
            status="401",
            url_rule="/api/runs",
        )
        == 1
    )
    (span,) = [
        s for s in spans.get_finished_spans() if s.attributes.get("http.route") == "/api/runs"
    ]
    assert span.name == "GET /api/runs"
    assert span.attributes["dugout.correlation_id"] == "cid-refused-1"
    assert span.attributes["http.response.status_code"] == 401


def test_unknown_paths_share_one_label(app, anon) -> None:
    for path in ("/nope/1", "/nope/2"):
        anon.http.get(path)
    text = anon.http.get("/metrics").get_data(as_text=True)
    assert "/nope/" not in text


def test_dash_callbacks_are_timed_and_traced_by_function(app, login_as, spans, probe) -> None:
    client = login_as("viewer")
    spans.clear()
    r = client.callback(*PROBE)
    assert r.status_code == 200 and b"clicked 1" in r.data, r.data
    name = probe
    assert sample(app, "dugout_dash_callback_duration_seconds_count", callback=name) == 1
    (span,) = [s for s in spans.get_finished_spans() if s.name.startswith("dash callback")]
    assert span.name == f"dash callback {name}"
    assert span.attributes["dash.callback"] == name
    assert span.attributes["enduser.id"] == client.username
    assert span.attributes["dugout.correlation_id"]


def test_refused_and_unknown_callbacks_are_counted_without_new_labels(
    app, anon, login_as, probe
) -> None:
    assert anon.callback(*PROBE).status_code == 401  # refused before Dash: still timed
    client = login_as("viewer")
    # an unknown callback is refused with a 400 (issue 14: it was a 500); it is timed all the same
    r = client.callback("no-such.children", [{"id": "x", "property": "n_clicks", "value": 1}])
    assert r.status_code == 400
    assert sample(app, "dugout_dash_callback_duration_seconds_count", callback=probe) == 1
    assert sample(app, "dugout_dash_callback_duration_seconds_count", callback="unknown") == 1


def test_callback_and_page_names_are_module_names_not_install_paths(app, login_as) -> None:
    import dash

    login_as("viewer").http.get("/_dash-dependencies")  # Dash merges its callbacks on first use
    names = app.extensions["dugout.callback_names"]
    labels = {names.resolve(output) for output in app.extensions["dugout.dash"].callback_map}
    labels.discard("unknown")  # clientside callbacks have no Python function
    pages = {label for label in labels if label.startswith("pages.")}
    assert {label.rsplit(".", 1)[0] for label in pages} >= {"pages.overview", "pages.admin"}
    root_parts = {part for part in str(dash_root()).split("/") if part}
    for label in labels:
        assert label.split(".")[0] in {"pages", "app", "dash", "tests"}, label
        assert not root_parts & set(label.split(".")[:-2]), label  # no directory of the install
    assert {p["module"] for p in dash.page_registry.values()} >= {"pages.overview", "pages.admin"}


def dash_root():
    """The directory the code runs from (a checkout here, site-packages when installed)."""
    from app.dashboard import ROOT

    return ROOT
