"""Charts keep the user's view in a real browser: a zoomed, panned chart with a pipeline hidden
from its legend is re-delivered by the server (the live token moved) and still shows the same
axis ranges and the same hidden pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app.db import Database
from app.pipelines.ledger import record_skip

pytestmark = pytest.mark.e2e

LATENCY = "#overview-latency .js-plotly-plot"
GD = f"document.querySelector('{LATENCY}')"
# the pipeline line with the most points (not the invisible trace spanning the window)
LONGEST = (
    f"(() => {{ const ts = {GD}.data.filter(t => t.uid !== 'window'); "
    "return ts.reduce((a, t) => (t.x.length > a.x.length ? t : a), ts[0]); })()"
)


@pytest.fixture
def live_db(live_server) -> Iterator[Database]:
    """The live server's own (embedded SQLite) database, to stage a run in."""
    db = Database(f"sqlite:///{live_server.var_dir / 'dugout.sqlite3'}")
    yield db
    assert db.engine is not None
    db.engine.dispose()


def _settled(page) -> None:
    """Wait until the chart has no plot pending (dcc.Graph marks the div while Plotly draws)."""
    page.wait_for_function(f"() => !{GD}.classList.contains('dash-graph--pending')", timeout=30_000)


def _hide_from_legend(page, uid: str) -> None:
    """Click the pipeline's legend entry, as a user does, until the chart holds it hidden.

    A figure the server delivers while the click lands redraws the legend under the pointer, and
    that click is lost; a user clicks again, and so does this (never twice within Plotly's
    double-click window, which would isolate the trace instead)."""
    hidden = f"() => {GD}.data.find(t => t.uid === '{uid}').visible === 'legendonly'"
    for _ in range(6):
        _settled(page)
        entry = page.locator("#overview-latency .legend .traces", has_text=uid)
        entry.locator(".legendtoggle").click()
        try:
            page.wait_for_function(hidden, timeout=10_000)
            return
        except Exception:  # the click was lost in a redraw: look again and click again
            if page.evaluate(hidden):
                return
    shown = page.evaluate(f"() => {GD}.data.map(t => [t.uid, t.visible])")
    raise AssertionError(f"the legend click never hid {uid}: {shown}")


def test_zoom_and_hidden_pipeline_survive_a_refresh(page_as, live_server, live_db) -> None:
    page = page_as("viewer")
    page.goto(f"{live_server.url}/")
    try:
        page.wait_for_function(
            f"() => {{ const g = {GD}; return g && g.data && g.data.length > 1 && "
            f"{LONGEST}.x.length > 3; }}",
            timeout=60_000,
        )
    except Exception as error:  # say what the chart held instead
        shown = page.evaluate(f"() => {GD} && {GD}.data && {GD}.data.map(t => [t.uid, t.x.length])")
        raise AssertionError(f"no latency line of 4 points or more: {shown}") from error
    _settled(page)
    full = page.evaluate(f"() => {GD}._fullLayout.xaxis.range.slice()")
    # zoom the time axis to the middle of the longest line's points, as a drag would
    hidden = page.evaluate(f"() => {LONGEST}.uid")
    page.evaluate(
        f"""() => {{ const x = {LONGEST}.x;
            return Plotly.relayout({GD}, {{'xaxis.range': [x[1], x[x.length - 2]]}}); }}"""
    )
    _hide_from_legend(page, hidden)  # once the chart has settled
    _settled(page)
    zoomed = page.evaluate(f"() => {GD}._fullLayout.xaxis.range.slice()")
    assert zoomed != full
    # mark the data on screen: a figure delivered by the server brings new arrays
    page.evaluate(f"() => {{ {GD}.data.dugoutShown = true; }}")

    now = datetime.now(UTC)
    record_skip(  # a new run moves the live token: the overview re-reads and re-sends
        live_db.sessionmaker,  # type: ignore[arg-type]
        "grading",
        trigger="schedule",
        scheduled_for=now.replace(microsecond=0) + timedelta(days=3652),  # a tick of its own
        reason="e2e: move the live token",
        now=now,
    )
    page.wait_for_function(f"() => !{GD}.data.dugoutShown", timeout=60_000)
    _settled(page)

    assert page.evaluate(f"() => {GD}._fullLayout.xaxis.range.slice()") == zoomed
    visible = page.evaluate(f"() => {GD}.data.map(t => [t.uid, t.visible])")
    assert [hidden, "legendonly"] in visible
    # a new window is a new view: the zoom goes and the whole window shows again
    page.click("#overview-window label:has-text('7d')")
    page.wait_for_function(
        f"() => {GD}.layout.title.text.includes('7d') && {GD}._fullLayout.xaxis.autorange === true",
        timeout=60_000,
    )
