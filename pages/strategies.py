"""Strategies: settled record per strategy, cumulative units, CLV, and thresholds in force."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from app.dashboard import refresh_ms
from app.db import get_db
from app.pipelines.build import strategy_config_from_env
from app.queries.strategies import (
    clv_histogram,
    cumulative_units,
    grade_days,
    performance_from_days,
)
from app.rollups.grade_days import clv_bin_edges
from components.figures import clv_figure, cumulative_units_figure
from components.ledger import records_table
from components.strategies import performance_rows

dash.register_page(
    __name__,
    path="/strategies",
    name="Strategies",
    order=20,
    min_role="viewer",
    title="Strategies · Dugout",
)


def layout(**_: Any) -> html.Div:
    """Table, charts and thresholds."""
    config = {k: str(v) for k, v in asdict(strategy_config_from_env()).items()}
    return html.Div(
        [
            html.H1("Strategies", className="h3"),
            html.P(
                "Graded recommendations only. CLV is the steadier signal: results are noisy for "
                "a long time.",
                className="text-muted",
            ),
            html.Div(id="strategy-table"),
            html.Div(
                [
                    dcc.Graph(id="strategy-units", config={"displaylogo": False}),
                    dcc.Graph(id="strategy-clv", config={"displaylogo": False}),
                ],
                className="row-cols-1",
            ),
            html.H2("Thresholds in force", className="h5 mt-3"),
            records_table(
                [{"setting": k, "value": v} for k, v in config.items()],
                "strategy-thresholds",
                "No settings.",
            ),
            dcc.Interval(id="strategy-refresh", interval=refresh_ms(4)),
        ]
    )


@callback(
    Output("strategy-table", "children"),
    Output("strategy-units", "figure"),
    Output("strategy-clv", "figure"),
    Input("strategy-refresh", "n_intervals"),
)
def refresh_strategies(_n: int | None) -> tuple[Any, Any, Any]:
    """Every graded bet, read once as per-day rollups per strategy."""
    with get_db().session() as session:
        days = grade_days(session)  # settled days from the rollup the keeper maintains
    table = records_table(
        performance_rows(performance_from_days(days)),
        "strategy-performance",
        "No graded bets yet: strategies are graded once games are final.",
    )
    return (
        table,
        cumulative_units_figure(cumulative_units(days)),
        clv_figure(clv_histogram(days), clv_bin_edges()),
    )
