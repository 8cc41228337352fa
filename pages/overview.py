"""Overview: how the pipelines are doing right now, from the run ledger."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html
from flask import current_app

from app.dashboard import default_zone, keep_view, page_now, refresh_ms
from app.db import get_db
from app.extensions import READINESS, SETTINGS
from app.observability.status import build_status
from app.queries.run_charts import WINDOWS, latency_series, success_series
from app.queries.runs import pipeline_summaries, recent_runs
from app.queries.sources import source_freshness
from components.figures import (
    PERCENTILES,
    chart,
    figure_store,
    freshness_figure,
    latency_figure,
    success_figure,
)
from components.formatting import zone
from components.ledger import runs_table, summary_cards
from components.status import alerts_list, checks_list, scheduler_summary, slo_cards
from scheduler.status import scheduler_status

dash.register_page(
    __name__, path="/", name="Overview", order=0, min_role="viewer", title="Overview · Dugout"
)


def layout(**_: Any) -> html.Div:
    """Cards, latency / success / freshness charts and recent runs, refreshed on an interval."""
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(html.H1("Overview", className="h3"), xs="auto"),
                    dbc.Col(
                        dbc.RadioItems(
                            id="overview-window",
                            options=list(WINDOWS),
                            value="24h",
                            inline=True,
                            className="small",
                        ),
                        className="text-end",
                    ),
                ],
                className="align-items-center",
            ),
            html.Div(id="overview-slo"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.H2("Health", className="h6 mt-3"),
                            html.Div(id="overview-scheduler"),
                            html.Div(id="overview-checks", className="mt-1"),
                        ],
                        lg=6,
                    ),
                    dbc.Col(
                        [
                            html.H2("Open alerts", className="h6 mt-3"),
                            html.Div(id="overview-alerts"),
                        ],
                        lg=6,
                    ),
                ]
            ),
            html.Div(id="overview-cards", className="mt-3"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.RadioItems(
                                id="overview-percentile",
                                options=list(PERCENTILES),
                                value="p95",
                                inline=True,
                                className="small text-end",
                            ),
                            chart("overview-latency"),
                        ],
                        lg=8,
                    ),
                    dbc.Col(chart("overview-freshness"), lg=4),
                ],
                className="mt-3",
            ),
            chart("overview-success"),
            html.H2("Recent runs", className="h5 mt-3"),
            html.Div(id="overview-runs"),
            dcc.Interval(id="overview-refresh", interval=refresh_ms()),
        ]
    )


keep_view("overview-latency", "overview-success", "overview-freshness")


@callback(
    Output("overview-cards", "children"),
    Output("overview-runs", "children"),
    Output(figure_store("overview-latency"), "data"),
    Output(figure_store("overview-success"), "data"),
    Output(figure_store("overview-freshness"), "data"),
    Input("overview-refresh", "n_intervals"),
    Input("overview-window", "value"),
    Input("overview-percentile", "value"),
    Input("live-token", "data"),
    Input("display-tz", "value"),
)
def refresh_overview(
    _n: int | None,
    window: str | None,
    percentile: str | None = "p95",
    _token: Any = None,
    tz_name: str | None = None,
) -> tuple[Any, ...]:
    """Read the ledger: summaries, percentiles and success rates bucketed in SQL. The charts
    keep zoom, pan and hidden pipelines across refreshes until the window changes."""
    window = window if window in WINDOWS else "24h"
    percentile = percentile if percentile in PERCENTILES else "p95"
    now = page_now()
    span = (now - WINDOWS[window], now)
    with get_db().session() as session:
        summaries = pipeline_summaries(session, now - WINDOWS[window], now)
        rows = recent_runs(session, limit=15)
        latency = latency_series(session, now, window)
        success = success_series(session, now, window)
        fresh = source_freshness(session, now)
    return (
        summary_cards(summaries, window),
        runs_table(rows, tz=zone(tz_name, default_zone())),
        latency_figure(
            latency,
            f"Run duration {percentile} ({window})",
            span,
            percentile,
            uirevision=f"latency:{window}",  # a new percentile keeps the zoom
        ),
        success_figure(success, f"Success rate ({window})", span, uirevision=f"success:{window}"),
        freshness_figure(fresh),
    )


@callback(
    Output("overview-slo", "children"),
    Output("overview-alerts", "children"),
    Output("overview-scheduler", "children"),
    Output("overview-checks", "children"),
    Input("overview-refresh", "n_intervals"),
)
def refresh_health(_n: int | None) -> tuple[Any, ...]:
    """SLO cards, open alerts, the scheduler leader and dependency checks (as /api/health)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    now = page_now()
    # the cards, alerts and checks: neither the sources nor the runs of the status picture
    report = build_status(get_db(app), now, READINESS.find(app) or [], runs=0, sources=False)
    checks = [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks]
    try:
        status = scheduler_status(app, now)
    except Exception:
        status = None
    return (
        slo_cards(report.slos, idle=_idle_slos(app)),
        alerts_list(report.alerts),
        scheduler_summary(status, now),
        (checks_list(checks)),
    )


def _idle_slos(app: Any) -> dict[str, str]:
    """The freshness SLO is idle while the market is closed: nothing is due, so say why (at the
    moment the market pill uses)."""
    from app.queries.market import market_view

    now = page_now()
    with get_db(app).session() as session:
        view = market_view(session, now, SETTINGS.of(app).source)
    return {} if view.is_open else {"data_freshness": f"market closed: {view.reason}"}
