"""Strategies: every configured strategy's graded results with 95 % intervals and a
sample-size mark, over a window, split by book or market; cumulative units, CLV over time and
its distribution; the thresholds in force, in words with their units."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from app.dashboard import keep_view, page_now, refresh_ms
from app.db import get_db
from app.extensions import SETTINGS
from app.pipelines.build import provided_kinds, strategy_config_from_env
from app.pipelines.coverage import strategy_coverage
from app.pipelines.strategies import ALL_STRATEGIES
from app.queries.strategies import clv_by_day, cumulative_units, strategy_charts
from app.queries.strategy_stats import (
    MIN_BETS_TO_JUDGE,
    WINDOWS,
    strategy_stats,
    window_start,
)
from app.rollups.grade_days import clv_bin_edges
from components.figures import (
    chart,
    clv_figure,
    clv_over_time_figure,
    cumulative_units_figure,
    figure_store,
)
from components.formatting import threshold_rows
from components.grid import Column
from components.grid import table as grid_table
from components.ledger import records_table
from components.strategies import SPLIT_COLUMNS, STAT_COLUMNS, split_rows, stats_rows

dash.register_page(
    __name__,
    path="/strategies",
    name="Strategies",
    order=20,
    min_role="viewer",
    title="Strategies · Dugout",
)
SPLITS = {"none": "no split", "book": "by book", "market": "by market"}


TOO_FEW_ROW = {"grid-row-muted": "params.data && params.data.judge !== ''"}


def _table(element_id: str, columns: tuple[tuple[str, str], ...]) -> Any:
    return grid_table(
        element_id,
        [
            Column(k, n, pinned=k in ("strategy", "split"), filter=k in ("strategy", "split"))
            for k, n in columns
        ],
        page_size=30,
        row_class=TOO_FEW_ROW,
    )


def layout(**_: Any) -> html.Div:
    """Window and split pickers, the results table, charts and thresholds."""
    config = asdict(strategy_config_from_env())
    return html.Div(
        [
            html.H1("Strategies", className="h3"),
            html.P(
                "Graded recommendations only; a bet several strategies flagged counts once, for "
                "the one with the highest EV. Intervals are 95 %. CLV is the steadier signal: "
                f"results are noisy for a long time, and under {MIN_BETS_TO_JUDGE} bets a "
                "record says more about luck than about the strategy.",
                className="text-muted small",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.RadioItems(
                            id="strategy-window",
                            options=[{"label": v, "value": k} for k, v in WINDOWS.items()],
                            value="all",
                            inline=True,
                            className="small",
                        ),
                        xs=12,
                        md="auto",
                    ),
                    dbc.Col(
                        dbc.RadioItems(
                            id="strategy-split",
                            options=[{"label": v, "value": k} for k, v in SPLITS.items()],
                            value="none",
                            inline=True,
                            className="small",
                        ),
                        xs=12,
                        md="auto",
                    ),
                ],
                className="g-2 mb-2",
            ),
            _table("strategy-stats", STAT_COLUMNS),
            html.Div(_table("strategy-splits", SPLIT_COLUMNS), id="strategy-splits-box"),
            chart("strategy-units"),
            chart("strategy-clv-time"),
            chart("strategy-clv"),
            html.H2("Thresholds in force", className="h5 mt-3"),
            records_table(
                [{"setting": r["setting"], "value": r["value"]} for r in threshold_rows(config)],
                "strategy-thresholds",
                "No settings.",
            ),
            dcc.Interval(id="strategy-refresh", interval=refresh_ms(4)),
        ]
    )


def _idle_reasons() -> dict[str, str]:
    settings = SETTINGS.of()
    return {
        r.strategy: r.reason or "idle"
        for r in strategy_coverage(provided_kinds(settings))
        if not r.active
    }


keep_view("strategy-units", "strategy-clv-time", "strategy-clv")


@callback(
    Output("strategy-stats", "rowData"),
    Output("strategy-splits", "rowData"),
    Output("strategy-splits-box", "className"),
    Output(figure_store("strategy-units"), "data"),
    Output(figure_store("strategy-clv-time"), "data"),
    Output(figure_store("strategy-clv"), "data"),
    Input("strategy-refresh", "n_intervals"),
    Input("strategy-window", "value"),
    Input("strategy-split", "value"),
)
def refresh_strategies(_n: int | None, window: Any, split: Any) -> tuple[Any, ...]:
    """Results in the window from one grouped SQL aggregate; charts from the day rollups
    (the CLV histogram from their 30-day blocks)."""
    now = page_now()
    since = window_start(window if window in WINDOWS else "all", now)
    with get_db().session() as session:
        stats = strategy_stats(session, since)
        charts = strategy_charts(session, now, since)
    splits = split_rows(stats, split) if split in ("book", "market") else []
    return (
        stats_rows(list(ALL_STRATEGIES), stats, _idle_reasons()),
        splits,
        "mt-2" if splits else "d-none",
        cumulative_units_figure(cumulative_units(charts.days)),
        clv_over_time_figure(clv_by_day(charts.days)),
        clv_figure(charts.clv_bins, clv_bin_edges()),
    )
