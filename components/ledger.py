"""Run-ledger widgets: pipeline summary cards, the recent-runs table and run-history rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import html

from app.queries.runs import PipelineSummary, RunRow
from components.formatting import timestamp
from components.grid import Column, table

STATUS_COLOURS = {
    "succeeded": "success",
    "failed": "danger",
    "partial": "warning",
    "running": "info",
    "skipped": "secondary",
    "queued": "secondary",
    "interrupted": "warning",
}


def empty_state(message: str, element_id: str | None = None) -> html.Div:
    """A plain sentence saying why there is nothing to show."""
    div = html.Div(message, className="empty-state text-muted p-4 text-center")
    if element_id:
        div.id = element_id  # type: ignore[attr-defined]
    return div


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def summary_cards(summaries: Sequence[PipelineSummary], window: str = "24h") -> Any:
    """One card per pipeline: runs, success rate, mean and max duration in the window."""
    if not summaries:
        return empty_state(
            f"No pipeline runs in the last {window}. Runs appear here as soon as the scheduler "
            "or an operator starts one (or run `dugout run full`).",
            "overview-empty",
        )
    cards = []
    for s in summaries:
        rate = s.success_rate
        colour = (
            "secondary"
            if rate is None
            else ("success" if rate >= 0.995 else "warning" if rate >= 0.95 else "danger")
        )
        cards.append(
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.H6(
                                s.pipeline, className="card-title text-uppercase small text-muted"
                            ),
                            html.Div(
                                [
                                    html.Span(
                                        f"{rate:.1%}" if rate is not None else "—",
                                        className=f"h3 text-{colour} me-2",
                                    ),
                                    html.Span("success", className="text-muted small"),
                                ]
                            ),
                            html.Div(f"{s.runs} runs · {s.failed} failed", className="small"),
                            html.Div(
                                f"mean {_fmt_ms(s.avg_ms)} · max {_fmt_ms(s.max_ms)}",
                                className="small text-muted",
                            ),
                        ]
                    ),
                    className="pipeline-card h-100",
                    id=f"card-{s.pipeline}",
                ),
                xs=12,
                sm=6,
                lg=3,
            )
        )
    return dbc.Row(cards, className="g-3")


def run_cells(r: RunRow, tz: ZoneInfo | None = None) -> dict[str, Any]:
    """A run as table cells: its start in the one format in the viewer's zone `tz`, durations
    to a tenth of a millisecond."""
    return {
        "id": str(r.id),
        "pipeline": r.pipeline,
        "status": r.status,
        "trigger": r.trigger,
        "actor": r.actor or "",
        "started_at": timestamp(r.started_at, tz),
        "duration_ms": round(r.duration_ms, 1) if r.duration_ms is not None else None,
        "attempt": r.attempt,
        "error": r.error or "",
        "reason": r.reason,
        "link": str(r.id)[:8],  # drawn as a link to /pipelines/<id> (RunLink)
    }


def history_rows(runs: Sequence[RunRow], tz: ZoneInfo | None = None) -> list[dict[str, Any]]:
    """Rows of the run history table: the cells plus a link to each run's page."""
    return [
        {
            **run_cells(r, tz),
            "error": (r.error or "")[:200],
            "reason": r.reason[:300],
        }
        for r in runs
    ]


RUN_COLUMNS = (
    Column("link", "Run", pinned=True, run_link=True, sortable=False, width=95),
    Column("pipeline", "Pipeline", width=120),
    Column("status", "Status", status=True, width=110),
    Column("started_at", "Started", width=180),
    Column("reason", "Why", width=260),
    Column("trigger", "Trigger", width=110),
    Column("actor", "By", width=100),
    Column("duration_ms", "Duration (ms)", width=130),
    Column("error", "Error", width=240),
)


def runs_table(
    runs: Sequence[RunRow], table_id: str = "runs-table", tz: ZoneInfo | None = None
) -> Any:
    """The recent runs as a table, with status colours that do not rely on colour alone."""
    if not runs:
        return empty_state("The run ledger is empty: no pipeline has run yet.", "runs-empty")
    return table(table_id, RUN_COLUMNS, [run_cells(r, tz) for r in runs], page_size=20)


def records_table(rows: list[dict[str, Any]], table_id: str, empty: str) -> Any:
    """A plain table of dict rows with a column per key, or an empty state."""
    if not rows:
        return empty_state(empty)
    cols = [Column(k, k.replace("_", " "), filter=True) for k in rows[0]]
    return table(table_id, cols, rows, page_size=25)
