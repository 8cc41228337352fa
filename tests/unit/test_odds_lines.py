"""The odds screen writes lines as bettors do: run lines signed, totals plain."""

from components.odds import _point


def test_run_lines_carry_their_sign_and_totals_do_not() -> None:
    assert _point("spreads", 1.5) == "+1.5 " and _point("spreads", -1.5) == "-1.5 "
    assert _point("totals", 8.5) == "8.5 " and _point("h2h", None) == ""
