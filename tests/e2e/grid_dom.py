"""Reading a Dash AG Grid in the browser: a row is split between the pinned and the scrolling
containers, so cells are gathered by row index and named by their column's header."""

from __future__ import annotations

from typing import Any

ROWS_JS = """(grid) => {
    const g = document.querySelector(grid);
    if (!g) return [];
    const names = {};
    g.querySelectorAll('.ag-header-cell[col-id]').forEach(
        h => { names[h.getAttribute('col-id')] = h.innerText.trim(); });
    const rows = {};
    g.querySelectorAll('.ag-row[row-index]').forEach(r => {
        const i = Number(r.getAttribute('row-index'));
        rows[i] = rows[i] || {};
        r.querySelectorAll('.ag-cell[col-id]').forEach(c => {
            rows[i][names[c.getAttribute('col-id')]] = c.innerText.trim();
        });
    });
    return Object.keys(rows).map(Number).sort((a, b) => a - b).map(i => rows[i]);
}"""


def grid_rows(page: Any, grid: str) -> list[dict[str, str]]:
    """The rows the grid at `grid` has drawn, as {column header: cell text}, in order."""
    return list(page.evaluate(ROWS_JS, grid))


def wait_grid_text(page: Any, grid: str, predicate: str, timeout: int = 90_000) -> None:
    """Wait until the grid's text (`text` in the JS `predicate`) satisfies it."""
    page.wait_for_function(
        "(grid) => { const g = document.querySelector(grid + ' .ag-body');"
        f" if (!g) return false; const text = g.innerText; return {predicate}; }}",
        arg=grid,
        timeout=timeout,
    )


def grid_row_text(page: Any, grid: str, inside: str) -> str:
    """The text of the grid row holding `inside`: its pinned and scrolling parts together."""
    return str(
        page.evaluate(
            """([grid, inside]) => {
                const row = document.querySelector(grid + ' .ag-row:has(' + inside + ')');
                const index = row.getAttribute('row-index');
                return [...document.querySelectorAll(grid + ` .ag-row[row-index="${index}"]`)]
                    .map(r => r.innerText).join(' ');
            }""",
            [grid, inside],
        )
    )
