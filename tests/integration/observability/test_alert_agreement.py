"""The SLO cards, the alert list and `dugout status --json` say the same level (SQLite and
PostgreSQL): a ticket-level burn reads "ticket" everywhere, a page-level burn "page"."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from click.testing import CliRunner

from app.cli_status import status_cmd
from app.observability.alerts import evaluate
from app.observability.slo import ALERT_LEVELS, SLO_BY_NAME
from tests.integration.observability.ledger import page_burn, ticket_burn

HEALTH = (
    "..overview-slo.children...overview-alerts.children...overview-scheduler.children..."
    "overview-checks.children.."
)


def _levels(tree: object, cls: str) -> list[str]:
    """The `level-*` classes of every badge with `cls` in a rendered component tree."""
    return re.findall(rf'"className": "[^"]*{cls} level-([a-z_]+)', json.dumps(tree))


def test_cards_alert_list_and_status_agree_for_ticket_and_page(
    login_as, db, database_url, monkeypatch, tmp_path
) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        s.add_all(ticket_burn(now) + page_burn(now))
    evaluate(db.sessionmaker, now)
    viewer = login_as("viewer")
    r = viewer.callback(HEALTH, [{"id": "overview-refresh", "property": "n_intervals", "value": 1}])
    assert r.status_code == 200, r.data
    props = json.loads(r.data)["response"]
    cards = {
        card["props"]["children"]["props"]["id"].removeprefix("slo-"): _levels(card, "slo-level")
        for card in props["overview-slo"]["children"]["props"]["children"]
    }
    listed = props["overview-alerts"]["children"]
    alerts = _levels(listed, "alert-level")

    assert cards["pipeline_latency"] == ["ticket"]
    assert cards["pipeline_reliability"] == ["page"]
    assert "ticket" in alerts and "page" in alerts
    text = json.dumps(props["overview-slo"])
    assert "Alert: ticket" in text and "Alert: page" in text
    # every card's alert word is the most urgent level of that SLO's alerts in the list
    items = listed["props"]["children"]
    for name, (level,) in cards.items():
        title = SLO_BY_NAME[name].title
        theirs = {_levels(i, "alert-level")[0] for i in items if f'"{title}: ' in json.dumps(i)}
        urgent = next((lv for lv in ALERT_LEVELS if lv in theirs), None)
        assert urgent == (level if level in ALERT_LEVELS else None), (name, level, theirs)

    # `dugout status --json` says the same, from the same picture
    monkeypatch.setenv("DUGOUT_VAR_DIR", str(tmp_path / "var"))  # the app's SQLite file
    monkeypatch.setenv("DUGOUT_SCHEDULER_ENABLED", "false")
    if database_url:
        monkeypatch.setenv("DUGOUT_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("DUGOUT_DATABASE_URL", raising=False)
    out = CliRunner().invoke(status_cmd, ["--json"])
    body = json.loads(out.output)
    shown = {s["name"]: s["shown_level"] for s in body["slos"]}
    assert shown["pipeline_latency"] == "ticket" and shown["pipeline_reliability"] == "page"
    assert {name: [level] for name, level in shown.items()} == cards
    stored = {a["severity"] for a in body["alerts"] if "pipeline_latency" in a["key"]}
    assert stored == {"ticket"}
