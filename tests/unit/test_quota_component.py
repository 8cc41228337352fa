"""The quota card: plain data in, a card that says credits, burn and run-out in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.pipelines.quota import QuotaPlan, overview
from components.quota import quota_card

NOW = datetime(2024, 7, 13, 16, 0, tzinfo=UTC)


def _text(component) -> str:
    children = getattr(component, "children", None)
    if isinstance(children, str):
        return children
    if isinstance(children, list):
        return " ".join(_text(c) for c in children)
    return _text(children) if children is not None else ""


def test_the_card_shows_credits_burn_and_run_out() -> None:
    samples = [(NOW - timedelta(days=1), 9_000), (NOW, 6_000)]
    card = quota_card(overview(QuotaPlan(), "odds_api", NOW, samples))
    text = _text(card)
    assert "6,000 of 20,000 credits left" in text and "3,000 credits a day" in text
    assert "Runs out: 2024-07-15" in text and card.color == "danger"


def test_before_any_sample() -> None:
    assert "not been polled" in _text(quota_card(None))
