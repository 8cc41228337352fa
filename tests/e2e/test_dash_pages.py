"""Page- and callback-level checks in Chromium with Dash's own `dash_duo` (dash[testing]): the
app from create_app, served by Dash's threaded runner, logged in through the real form. The
Playwright tests beside these drive the whole gunicorn-served app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.pipelines.context import PipelineContext
from app.pipelines.runner import run_pipeline
from app.pipelines.sources.demo import DemoSource
from app.pipelines.strategies import build_strategies
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def backend() -> str:
    """One browser run is enough: these check pages and callbacks, not the database."""
    return "sqlite"


@pytest.fixture
def seeded(db) -> None:
    """Twenty minutes of the demo market as real runs, ending now."""
    now = datetime.now(UTC)
    clock = [now - timedelta(minutes=20)]
    ctx = PipelineContext(
        sessions=db.sessionmaker,
        clock=lambda: clock[0],
        sources=[DemoSource(seed=5, day=(now - timedelta(hours=6)).date())],
        strategies=build_strategies(),
    )
    while clock[0] <= now:
        run_pipeline(ctx, "full", "schedule", scheduled_for=clock[0])
        clock[0] += timedelta(minutes=5)


def _sign_in(dash_duo, app, username: str) -> None:
    # navigate=False: Dash would wait for its page at "/", which sends a stranger to /login
    dash_duo.start_server(app.extensions["dugout.dash"], navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}/login")
    dash_duo.find_element("#username").send_keys(username)
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#login-submit").click()


def test_overview_callbacks_fill_the_page_without_browser_errors(
    dash_duo, app, make_user, seeded
) -> None:
    _sign_in(dash_duo, app, make_user("viewer"))
    dash_duo.wait_for_contains_text("#overview-runs", "succeeded", timeout=60)
    dash_duo.wait_for_element("#overview-slo .card", timeout=60)
    dash_duo.wait_for_element("#overview-latency .main-svg", timeout=60)
    assert dash_duo.find_element("#kill-switch-banner").text == ""
    assert dash_duo.get_logs() == [], "the browser console reported errors"


def test_a_page_above_the_role_renders_the_refusal_in_the_shell(dash_duo, app, make_user) -> None:
    _sign_in(dash_duo, app, make_user("viewer"))
    dash_duo.wait_for_element("#overview-slo", timeout=60)
    assert (
        "Admin" not in dash_duo.find_element("nav").text
    )  # the navbar offers what the role may open
    dash_duo.driver.execute_script(  # a client-side navigation, as a link in the app would make
        "window.history.pushState({}, '', '/admin');"
        "window.dispatchEvent(new PopStateEvent('popstate'));"
    )
    dash_duo.wait_for_element("#page-forbidden", timeout=60)
    assert dash_duo.find_elements("#admin-jobs") == []
