"""Spreadsheet-safe cells for every CSV a page exports (OWASP's CSV injection rule): a text
cell that begins with = + - @, a tab or a carriage return is prefixed with a single quote so a
spreadsheet shows it as text instead of running it as a formula. Plain numbers are left alone
(a number is never a formula), so odds such as -110 still read as numbers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
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


def csv_filename(page: str, now: datetime) -> str:
    """The export's name: `dugout-<page>-<UTC date>.csv`."""
    day = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC).date()
    return f"dugout-{page}-{day.isoformat()}.csv"


def csv_text(columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, Any]]) -> str:
    """A CSV with a header of column titles and every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([title for _, title in columns])
    for row in neutralise_rows(rows):
        writer.writerow(["" if row.get(key) is None else row.get(key) for key, _ in columns])
    return out.getvalue()


def csv_download(
    page: str, columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, Any]], now: datetime
) -> dict[str, Any]:
    """What a `dcc.Download` takes: the neutralised CSV under its dated name."""
    return {
        "content": csv_text(columns, rows),
        "filename": csv_filename(page, now),
        "type": "text/csv",
        "base64": False,
    }
