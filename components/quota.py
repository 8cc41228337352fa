"""The odds quota card for the overview: credits left, burn per day, projected run-out, reset.
A pure function of app.pipelines.quota.QuotaOverview (or None before the first sample)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html


def quota_card(view: Any) -> dbc.Card:
    """Credits left of a metered feed, with the burn rate and when they would run out."""
    if view is None or view.credits_left is None:
        body = [html.P("No quota reported yet: the odds feed has not been polled.")]
        return dbc.Card(
            dbc.CardBody([html.H6("Odds quota"), *body]), color="secondary", outline=True
        )
    burn = "n/a" if view.burn_per_day is None else f"{view.burn_per_day:,.0f} credits a day"
    run_out = "not at this pace" if view.run_out_at is None else f"{view.run_out_at:%Y-%m-%d}"
    at_risk = view.runs_out_before_reset or view.credits_left <= view.reserve_credits
    return dbc.Card(
        dbc.CardBody(
            [
                html.H6(f"Odds quota ({view.source})"),
                html.H4(f"{view.credits_left:,} of {view.monthly_credits:,} credits left"),
                html.P(f"Burn: {burn}. Runs out: {run_out}. Resets {view.reset_at:%Y-%m-%d}."),
                html.P(
                    f"{view.reserve_credits:,} credits are kept in reserve and never spent.",
                    className="text-muted small mb-0",
                ),
            ]
        ),
        color="danger" if at_risk else "success",
        outline=True,
        id="odds-quota",
    )
