"""CSV formula injection: exported cells never start a spreadsheet formula."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from components.csv_safety import FORMULA_STARTS, neutralise_cell, neutralise_rows


@given(st.text())
def test_no_text_cell_starts_a_formula(text: str) -> None:
    out = neutralise_cell(text)
    if out.startswith(FORMULA_STARTS):
        float(out)  # only a plain number may keep its sign
    assert out in (text, "'" + text)


def test_the_owasp_examples() -> None:
    assert neutralise_cell('=HYPERLINK("http://evil.example","click")') == (
        '\'=HYPERLINK("http://evil.example","click")'
    )
    for start in ("+", "-", "@", "\t", "\r"):
        assert neutralise_cell(f"{start}cmd|' /C calc'!A0").startswith("'")
    assert neutralise_cell("-110") == "-110" and neutralise_cell("+2.5") == "+2.5"
    assert neutralise_cell(-110) == -110 and neutralise_cell(None) is None
    assert neutralise_rows([{"book": "=1+1", "price": -110}]) == [{"book": "'=1+1", "price": -110}]
