"""The close: last quote per book before first pitch whatever the point; price and line CLV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.pipelines.closing import close_of_bet, closing_quotes, line_value
from app.pipelines.odds import american_to_decimal, devig_multiplicative
from app.pipelines.types import Quote

PITCH = datetime(2024, 7, 13, 23, 5, tzinfo=UTC)
SHARP = frozenset({"pinnacle"})
G = "2024-07-13-BOS@NYY"


def q(book: str, side: str, price: int, point: float | None, minutes_before: float) -> Quote:
    market = "h2h" if point is None else "totals"
    return Quote(G, market, side, book, price, point, PITCH - timedelta(minutes=minutes_before))


def test_a_withdrawn_line_is_never_the_close_and_line_clv_is_in_points() -> None:
    quotes = [
        q("pinnacle", "over", -105, 8.5, 420),
        q("pinnacle", "under", -115, 8.5, 420),
        q("draftkings", "over", 112, 8.5, 420),
        q("draftkings", "under", -130, 8.5, 420),
        q("pinnacle", "over", -102, 9.0, 255),
        q("pinnacle", "under", -118, 9.0, 255),
        q("draftkings", "over", -105, 9.0, 255),
        q("draftkings", "under", -115, 9.0, 255),
    ]
    bet = q("draftkings", "over", 112, 8.5, 420)

    close = close_of_bet(quotes, PITCH, bet, SHARP)

    assert (close.book_price, close.book_point, close.close_point) == (-105, 9.0, 9.0)
    assert close.fair_prob is None and close.price_clv is None  # no sharp book at 8.5 at close
    assert close.line_clv == 0.5 and close.basis == "line"


def test_price_clv_at_the_bets_point_from_the_sharp_close() -> None:
    quotes = [
        q("pinnacle", "over", -105, 8.5, 300),
        q("pinnacle", "under", -115, 8.5, 300),
        q("pinnacle", "over", 100, 8.5, 10),
        q("pinnacle", "under", -120, 8.5, 10),
        q("fanduel", "over", 115, 8.5, 5),
        q("fanduel", "under", -140, 8.5, 5),
    ]
    bet = q("draftkings", "over", 112, 8.5, 300)

    close = close_of_bet(quotes, PITCH, bet, SHARP)

    fair = devig_multiplicative([american_to_decimal(100), american_to_decimal(-120)])[0]
    assert close.fair_prob == fair  # pinnacle's LAST quote, not its first; fanduel ignored
    assert close.price_clv == american_to_decimal(112) * fair - 1.0
    assert close.line_clv == 0.0 and close.basis == "price+line"
    assert close.consensus == "sharp consensus pinnacle"


def test_line_value_signs() -> None:
    assert line_value("totals", "over", 8.5, 9.0) == 0.5
    assert line_value("totals", "under", 9.0, 8.5) == 0.5
    assert line_value("totals", "under", 8.5, 9.0) == -0.5
    assert line_value("spreads", "home", -1.5, -2.5) == 1.0
    assert line_value("h2h", "home", None, None) is None


quote_strategy = st.builds(
    lambda book, side, price, point, minutes: q(book, side, price, point, minutes),
    st.sampled_from(["pinnacle", "draftkings", "fanduel"]),
    st.sampled_from(["over", "under"]),
    st.sampled_from([-130, -115, -110, -105, 100, 105, 112]),
    st.sampled_from([7.5, 8.0, 8.5, 9.0, 9.5]),
    st.floats(min_value=-120, max_value=600, allow_nan=False),  # negative: after first pitch
)


@settings(max_examples=300, deadline=None)
@given(st.lists(quote_strategy, min_size=1, max_size=40))
def test_the_close_is_each_books_last_quote_before_first_pitch(quotes: list[Quote]) -> None:
    closes = closing_quotes(quotes, PITCH)

    for close in closes:
        assert close.last_update <= PITCH  # never a quote after first pitch
        same = [x for x in quotes if (x.book, x.side) == (close.book, close.side)]
        before = [x for x in same if x.last_update <= PITCH]
        # never a withdrawn quote: nothing of this book side is newer before first pitch
        assert all(x.last_update <= close.last_update for x in before)
    pairs = {(x.book, x.side) for x in quotes if x.last_update <= PITCH}
    assert {(c.book, c.side) for c in closes} == pairs


@settings(max_examples=200, deadline=None)
@given(st.lists(quote_strategy, min_size=2, max_size=40))
def test_price_clv_never_uses_a_point_no_sharp_book_closed_at(quotes: list[Quote]) -> None:
    bet = q("draftkings", "over", 112, 8.5, 400)
    close = close_of_bet(quotes, PITCH, bet, SHARP)
    sharp_closes = [c for c in closing_quotes(quotes, PITCH) if c.book in SHARP]
    if close.price_clv is not None and sharp_closes:
        sides_at_point = {c.side for c in sharp_closes if c.point == 8.5}
        assert sides_at_point == {"over", "under"}
