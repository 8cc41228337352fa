"""One block of a long table, as a grid asks for it: which rows, in which order, with which
text filters. Only keys a query lists are kept (a browser can send anything); the values reach
SQL as bound parameters, never as SQL text."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression

MAX_BLOCK = 200  # rows one request may ask for
MAX_START = 1_000_000
FILTER_MAX = 64  # characters of one filter text
DIRS = ("asc", "desc")


@dataclass(frozen=True)
class Block:
    """Rows [start, start + size) in `order` ((key, descending) pairs), with `contains`
    (key -> text) filters."""

    start: int = 0
    size: int = 100
    order: tuple[tuple[str, bool], ...] = ()
    contains: Mapping[str, str] = field(default_factory=dict)


def _int(value: Any, default: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(low, min(high, int(value)))


def parse_block(
    request: Any, sortable: Collection[str], filterable: Collection[str] = ()
) -> Block | None:
    """The block an AG Grid `getRowsRequest` asks for, or None when it is not one. Sort and
    filter entries on keys outside `sortable` / `filterable` are dropped."""
    if not isinstance(request, dict):
        return None
    start = _int(request.get("startRow"), 0, 0, MAX_START)
    end = _int(request.get("endRow"), start + 100, start + 1, start + MAX_BLOCK)
    order: list[tuple[str, bool]] = []
    for item in request.get("sortModel") or []:
        if isinstance(item, dict) and item.get("colId") in sortable and item.get("sort") in DIRS:
            order.append((str(item["colId"]), item["sort"] == "desc"))
    contains: dict[str, str] = {}
    model = request.get("filterModel")
    for key, spec in (model or {}).items() if isinstance(model, dict) else ():
        if key not in filterable or not isinstance(spec, dict):
            continue
        text = spec.get("filter")
        if spec.get("type", "contains") == "contains" and isinstance(text, str | int | float):
            text = str(text).strip()[:FILTER_MAX]
            if text:
                contains[key] = text
    return Block(start, end - start, tuple(order[:3]), contains)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_conditions(
    block: Block | None, columns: Mapping[str, ColumnElement[Any]]
) -> list[ColumnElement[bool]]:
    """`column ILIKE %text%` for each filter on a listed column, the text a bound value."""
    if block is None:
        return []
    return [
        columns[key].ilike("%" + _escape_like(text) + "%", escape="\\")
        for key, text in block.contains.items()
        if key in columns
    ]


def order_terms(
    order: Sequence[tuple[str, bool]], columns: Mapping[str, ColumnElement[Any]]
) -> list[UnaryExpression[Any]]:
    """ORDER BY terms for (key, descending) pairs on listed columns (nulls last either way)."""
    return [
        (columns[key].desc() if desc else columns[key].asc()).nulls_last()
        for key, desc in order
        if key in columns
    ]
