"""The grid of runs as HTML: a row per pipeline, a cell per slot linking to the slot's worst
run, its title (the hover) saying the runs by status, the mean duration and the reason."""

from __future__ import annotations

from typing import Any

from dash import html

from app.queries.run_grid import RANK, Grid, GridCell
from components.ledger import empty_state


def _ms(value: float | None) -> str:
    if value is None:
        return "no duration"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def cell_title(cell: GridCell) -> str:
    """The hover text: slot, runs by status, mean duration, the worst run's reason."""
    counts = ", ".join(
        f"{n} {s}" for s, n in sorted(cell.by_status.items(), key=lambda kv: -RANK.get(kv[0], 0))
    )
    text = f"{cell.pipeline} {cell.slot:%Y-%m-%d %H:%M} UTC: {counts}; mean {_ms(cell.mean_ms)}"
    return text + (f"; {cell.reason}" if cell.reason else "")


def run_grid(grid: Grid) -> Any:
    """The grid, or an empty state saying the window has no runs."""
    if not grid.pipelines:
        return empty_state(f"No runs in the last {grid.window}.", "run-grid-empty")
    children: list[Any] = []
    for pipeline in grid.pipelines:
        children.append(html.Div(pipeline, className="grid-label"))
        for slot in grid.slots:
            cell = grid.cells.get((pipeline, slot))
            if cell is None or cell.run_id is None:
                children.append(html.Span(className="grid-cell s-none"))
                continue
            title = cell_title(cell)
            label: dict[str, Any] = {"aria-label": title}
            children.append(  # one element a cell: the hover and the screen reader's label
                html.A(
                    href=f"/pipelines/{cell.run_id}",
                    title=title,
                    className=f"grid-cell s-{cell.status}",
                    **label,
                )
            )
    legend = html.Div(
        [
            html.Span([html.Span(className=f"grid-cell s-{s}"), s])
            for s in ("succeeded", "partial", "failed", "skipped", "interrupted", "running")
        ],
        className="run-grid-legend small text-muted mt-1",
    )
    window: dict[str, Any] = {"data-window": grid.window}  # which window the cells are of
    return html.Div(
        [
            html.Div(
                children,
                className="run-grid",
                id="run-grid",
                **window,
                style={"gridTemplateColumns": f"max-content repeat({len(grid.slots)}, 1fr)"},
            ),
            legend,
        ]
    )
