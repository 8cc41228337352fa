"""Spreadsheet-safe cells for every CSV a page exports (OWASP's CSV injection rule): a text
cell that begins with = + - @, a tab or a carriage return is prefixed with a single quote so a
spreadsheet shows it as text instead of running it as a formula. Plain numbers are left alone
(a number is never a formula), so odds such as -110 still read as numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise_cell(value: Any) -> Any:
    """`value`, with a leading quote when it is text a spreadsheet would run as a formula."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _PLAIN_NUMBER.match(value)
    ):
        return "'" + value
    return value


def neutralise_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every cell of `rows` made spreadsheet-safe (for a table whose data a user can export)."""
    return [{key: neutralise_cell(value) for key, value in row.items()} for row in rows]
