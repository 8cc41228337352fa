"""The SLO cards and the alert list agree in a real browser: on a server whose ledger burns
the latency budget at ticket level and the reliability budget at page level, each card's alert
word is the most urgent level the alert list shows for that SLO."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from app.db import Database
from app.observability.alerts import evaluate
from app.observability.slo import ALERT_LEVELS, SLO_BY_NAME
from tests.e2e.conftest import LiveServer, serving
from tests.integration.observability.ledger import page_burn, ticket_burn

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def burning_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with no scheduler and no demo history (nothing but the crafted ledger) whose
    stored alerts were evaluated on that ledger."""
    var_dir = tmp_path_factory.mktemp("burning") / "var"
    with serving(
        var_dir, seed=False, DUGOUT_SCHEDULER_ENABLED="false", DUGOUT_DEMO_SEED_HOURS="0"
    ) as server:
        db = Database(f"sqlite:///{var_dir / 'dugout.sqlite3'}")
        now = datetime.now(UTC)
        with db.session() as session:
            session.add_all(ticket_burn(now) + page_burn(now))
        evaluate(db.sessionmaker, now)  # type: ignore[arg-type]
        assert db.engine is not None
        db.engine.dispose()
        yield server


def _alerts_by_slo(page) -> dict[str, set[str]]:
    """The alert list's levels per SLO title, as the page shows them."""
    items = page.evaluate(
        """() => [...document.querySelectorAll('#alerts-list .alert-item')].map(i => [
            i.querySelector('strong').innerText,
            [...i.querySelector('.alert-level').classList].find(c => c.startsWith('level-'))])"""
    )
    found: dict[str, set[str]] = {}
    for title, level in items:
        for slo in SLO_BY_NAME.values():
            if title.startswith(f"{slo.title}: "):
                found.setdefault(slo.name, set()).add(level.removeprefix("level-"))
    return found


def test_cards_and_alert_list_agree_for_ticket_and_page(page_as, burning_server) -> None:
    page = page_as("viewer", burning_server)
    page.goto(f"{burning_server.url}/")
    page.wait_for_selector("#slo-pipeline_latency .slo-level", timeout=60_000)
    page.wait_for_selector("#alerts-list .alert-item", timeout=60_000)
    cards = {name: page.inner_text(f"#slo-{name} .slo-level").strip() for name in SLO_BY_NAME}
    alerts = _alerts_by_slo(page)

    assert cards["pipeline_latency"] == "Alert: ticket"
    assert alerts["pipeline_latency"] == {"ticket"}  # a ticket, and no page, for latency
    assert cards["pipeline_reliability"] == "Alert: page"
    assert "page" in alerts["pipeline_reliability"]
    # every card: "Alert: <level>" exactly when the list's most urgent alert for it is <level>
    for name, word in cards.items():
        urgent = next((lv for lv in ALERT_LEVELS if lv in alerts.get(name, set())), None)
        if urgent is None:
            assert not word.startswith("Alert:"), (name, word)
        else:
            assert word == f"Alert: {urgent.replace('_', ' ')}", (name, word, alerts.get(name))
