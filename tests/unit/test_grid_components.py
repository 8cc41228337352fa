"""The tables' pieces as plain data: column definitions, and the block a grid asks for, with
only listed keys kept and values bounded."""

from __future__ import annotations

from app.queries.paging import MAX_BLOCK, Block, parse_block
from components.grid import Column, column_def, paged_table, table


def test_columns_say_how_the_grid_treats_them() -> None:
    link = column_def(Column("link", "Run", pinned=True, run_link=True, sortable=False))
    assert link["pinned"] == "left" and link["cellRenderer"] == "RunLink"
    assert link["sortable"] is False and link["filter"] is False
    by = column_def(Column("actor", "By", filter=True))
    assert by["filter"] == "agTextColumnFilter" and by["floatingFilter"] is True
    assert by["filterParams"]["filterOptions"] == ["contains"]
    status = column_def(Column("status", "Status", status=True))
    assert "grid-status-failed" in status["cellClassRules"]
    assert "cellRenderer" not in status  # text cells: feed text is never markup


def test_a_short_table_holds_its_rows_and_a_long_one_none() -> None:
    short = table("t", [Column("a", "A")], [{"a": 1}], page_size=10)
    assert short.rowData == [{"a": 1}] and short.dashGridOptions["pagination"] is True
    long = paged_table("p", [Column("a", "A")]).children
    assert long.rowModelType == "infinite" and not getattr(long, "rowData", None)
    assert long.dashGridOptions["cacheBlockSize"] <= MAX_BLOCK


def test_parse_block_keeps_listed_keys_and_bounds_numbers() -> None:
    request = {
        "startRow": 100,
        "endRow": 100_000,
        "sortModel": [
            {"colId": "price", "sort": "desc"},
            {"colId": "id; DROP TABLE x", "sort": "asc"},
            {"colId": "stake", "sort": "sideways"},
        ],
        "filterModel": {
            "actor": {"filterType": "text", "type": "contains", "filter": "  otto  "},
            "secret": {"type": "contains", "filter": "x"},
            "error": {"type": "equals", "filter": "y"},
        },
    }
    block = parse_block(request, {"price", "stake"}, {"actor", "error"})
    assert block == Block(100, MAX_BLOCK, (("price", True),), {"actor": "otto"})
    assert parse_block("junk", {"price"}) is None and parse_block(None, {"price"}) is None
    odd = parse_block({"startRow": -5, "endRow": True, "sortModel": "x", "filterModel": [1]}, {})
    assert odd == Block(0, 100)
