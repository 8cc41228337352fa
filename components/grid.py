"""Tables on Dash AG Grid: one place that says how every table looks and behaves. A table is
either a small one whose rows are all in the browser (`table`), or a long one whose rows the
server sends a block at a time, sorted and filtered in SQL (`paged_table`, AG Grid's infinite
row model). Cells are text: links are drawn by `RunLink` (assets/dashAgGridComponentFunctions.js)
from a run id, never from markup in the data, so feed text cannot become HTML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dash_ag_grid as dag
from dash import html

BLOCK = 100  # rows the server sends per request of a paged table
TEXT_FILTER = {
    "filter": "agTextColumnFilter",
    "filterParams": {"filterOptions": ["contains"], "maxNumConditions": 1, "debounceMs": 400},
}
# Dash AG Grid turns these strings into functions with its own parser (no eval: the page's
# Content-Security-Policy has no 'unsafe-eval').
STATUS_CLASS = {
    "grid-status-failed": "params.value === 'failed' || params.value === 'ERROR'",
    "grid-status-ok": "params.value === 'succeeded' || params.value === 'settled'",
    "grid-status-warn": (
        "params.value === 'partial' || params.value === 'interrupted' || params.value === 'WARNING'"
    ),
}


@dataclass(frozen=True)
class Column:
    """One column: its key in the row dicts, its header, and how the grid treats it."""

    key: str
    name: str
    pinned: bool = False  # kept at the left while the rest scrolls (key columns on a phone)
    sortable: bool = True
    filter: bool = False  # a "contains" text filter in the header menu
    status: bool = False  # coloured by its value (failed, succeeded, ...), bold
    run_link: bool = False  # the cell links to /pipelines/<row id>
    width: int | None = None
    wrap: bool = False
    mono: bool = False  # monospace (log text, identifiers)
    extra: Mapping[str, Any] = field(default_factory=dict)


def columns(pairs: Sequence[tuple[str, str]], pinned: Sequence[str] = ()) -> list[Column]:
    """Columns from (key, header) pairs; the keys in `pinned` stay at the left."""
    return [Column(key, name, pinned=key in pinned) for key, name in pairs]


def column_def(c: Column) -> dict[str, Any]:
    """The AG Grid column definition of `c`."""
    spec: dict[str, Any] = {"field": c.key, "headerName": c.name, "sortable": c.sortable}
    if c.pinned:
        spec["pinned"] = "left"
    if c.filter:
        spec.update(TEXT_FILTER, floatingFilter=True)
    else:
        spec["filter"] = False
    if c.status:
        spec["cellClassRules"] = STATUS_CLASS
    if c.run_link:
        spec["cellRenderer"] = "RunLink"
    if c.width:
        spec["width"] = c.width
    classes = [name for on, name in ((c.wrap, "grid-wrap"), (c.mono, "grid-mono")) if on]
    if c.wrap:
        spec.update({"wrapText": True, "autoHeight": True})
    if classes:
        spec["cellClass"] = " ".join(classes)
    spec.update(c.extra)
    return spec


def _options(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "animateRows": False,
        "suppressCellFocus": True,
        "enableCellTextSelection": True,
        "ensureDomOrder": True,  # a screen reader and a test read rows in order
        "suppressColumnVirtualisation": True,  # every column in the page (a few dozen at most)
        "domLayout": "autoHeight",
        "localeText": {"noRowsToShow": "Nothing to show."},
        **(extra or {}),
    }


def table(
    element_id: str,
    cols: Sequence[Column],
    rows: Sequence[Mapping[str, Any]] = (),
    *,
    page_size: int | None = None,
    row_class: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> dag.AgGrid:
    """A table whose rows are all in the browser (short tables only): sorted and filtered
    there, paged when `page_size` is given."""
    extra: dict[str, Any] = dict(options or {})
    if page_size:
        extra.update({"pagination": True, "paginationPageSize": page_size})
        extra["paginationPageSizeSelector"] = False
    return dag.AgGrid(
        id=element_id,
        columnDefs=[column_def(c) for c in cols],
        rowData=list(rows),
        defaultColDef={"resizable": True, "minWidth": 70},
        columnSize="autoSize",
        rowClassRules=dict(row_class or {}),
        dashGridOptions=_options(extra),
        className="dugout-grid",
        style={"width": "100%"},
    )


def paged_table(
    element_id: str,
    cols: Sequence[Column],
    *,
    height: str = "70vh",
    row_class: Mapping[str, str] | None = None,
) -> html.Div:
    """A long table: the browser asks the server for one block of rows at a time (with the
    grid's sort and filter), so a year of history never travels to the browser."""
    return html.Div(
        dag.AgGrid(
            id=element_id,
            columnDefs=[column_def(c) for c in cols],
            rowModelType="infinite",
            defaultColDef={"resizable": True, "minWidth": 70},
            rowClassRules=dict(row_class or {}),
            dashGridOptions=_options(
                {
                    "domLayout": "normal",  # the grid scrolls inside its own box
                    "cacheBlockSize": BLOCK,
                    "maxBlocksInCache": 10,
                    "infiniteInitialRowCount": 1,
                    "rowBuffer": 10,
                }
            ),
            className="dugout-grid",
            style={"width": "100%", "height": height},
        ),
        className="dugout-grid-box",
    )


def empty_block() -> dict[str, Any]:
    """The answer to a block request the server will not serve (nothing to show)."""
    return {"rowData": [], "rowCount": 0}
