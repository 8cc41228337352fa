"""The odds screen: per game, each book's current price on every side of the moneyline, run
line and total with its opening quote, the best price per side, the sharp consensus fair
price and each book's hold; and one game's full line history.

The newest and the first quote of every (game, market, side, book) come from one windowed
SQL query; the pairing of sides into markets, the consensus and the hold reuse the domain's
own functions (app.pipelines.market), so the screen shows what the strategies see."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.models import Game, QuoteRow
from app.pipelines.market import (
    best_quote,
    consensus_fair_probs,
    group_book_markets,
    market_line,
)
from app.pipelines.types import Quote

MARKETS = ("h2h", "spreads", "totals")
SIDES = {"h2h": ("away", "home"), "spreads": ("away", "home"), "totals": ("over", "under")}


@dataclass(frozen=True, slots=True)
class BookPrice:
    """One book's current quote on one side, with its first quote on that side."""

    book: str
    side: str
    price: int
    point: float | None
    open_price: int
    open_point: float | None
    last_update: datetime


@dataclass(slots=True)
class MarketBoard:
    """One market of one game across books."""

    market: str
    line: float | None = None  # the line most books quote (the home / over side's point)
    prices: dict[tuple[str, str], BookPrice] = field(default_factory=dict)  # (book, side)
    best: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)  # side -> books
    fair: dict[str, float] = field(default_factory=dict)  # side -> fair probability
    consensus: str | None = None
    holds: dict[str, float] = field(default_factory=dict)  # book -> hold at its line


@dataclass(slots=True)
class GameBoard:
    """Every market of one game and the books that quote it."""

    game_key: str
    home: str
    away: str
    commence_time: datetime
    status: str
    markets: dict[str, MarketBoard] = field(default_factory=dict)
    books: list[str] = field(default_factory=list)


def upcoming_games(
    session: Session, now: datetime, ahead: timedelta, behind: timedelta
) -> list[Game]:
    """Games with first pitch in [now - behind, now + ahead], soonest first."""
    return list(
        session.scalars(
            select(Game)
            .where(
                Game.commence_time >= now - behind,
                Game.commence_time <= now + ahead,
                Game.status.not_in(("postponed", "cancelled")),
            )
            .order_by(Game.commence_time, Game.game_key)
        )
    )


def _first_and_newest(
    session: Session, game_keys: list[str]
) -> dict[tuple[str, str, str, str], tuple[Quote, Quote]]:
    """(first, newest) quote per (game, market, side, book), from one windowed query over one
    sort: the first is number 1 in (last_update, id) order, the newest the last number."""
    q = QuoteRow
    part = (q.game_key, q.market, q.side, q.book)
    ranked = (
        select(
            q.game_key,
            q.market,
            q.side,
            q.book,
            q.price,
            q.point,
            q.last_update,
            func.row_number().over(partition_by=part, order_by=(q.last_update, q.id)).label("up"),
            func.count().over(partition_by=part).label("n"),
        )
        .where(q.game_key.in_(game_keys))
        .subquery()
    )
    c = ranked.c
    out: dict[tuple[str, str, str, str], list[Quote | None]] = defaultdict(lambda: [None, None])
    for row in session.execute(
        select(
            c.game_key, c.market, c.side, c.book, c.price, c.point, c.last_update, c.up, c.n
        ).where(or_(c.up == 1, c.up == c.n))
    ):
        quote = Quote(*row[:7])
        pair = out[(quote.game_key, quote.market, quote.side, quote.book)]
        if row.up == 1:
            pair[0] = quote
        if row.up == row.n:
            pair[1] = quote
    return {k: (v[0], v[1]) for k, v in out.items() if v[0] is not None and v[1] is not None}


def odds_boards(
    session: Session,
    now: datetime,
    sharp_books: frozenset[str],
    method: str = "multiplicative",
    ahead: timedelta = timedelta(hours=36),
    behind: timedelta = timedelta(hours=4),
) -> list[GameBoard]:
    """The board of every game around now (upcoming, and started within `behind`)."""
    games = upcoming_games(session, now, ahead, behind)
    if not games:
        return []
    quotes = _first_and_newest(session, [g.game_key for g in games])
    boards = {
        g.game_key: GameBoard(g.game_key, g.home, g.away, g.commence_time, g.status) for g in games
    }
    newest: dict[tuple[str, str], list[Quote]] = defaultdict(list)
    for (game, market, side, book), (first, last) in quotes.items():
        if market not in SIDES:
            continue
        market_board = boards[game].markets.setdefault(market, MarketBoard(market))
        market_board.prices[(book, side)] = BookPrice(
            book, side, last.price, last.point, first.price, first.point, last.last_update
        )
        newest[(game, market)].append(last)
    for (game, market), current in newest.items():
        _summarise(boards[game].markets[market], current, sharp_books, method)
    for game_board in boards.values():
        game_board.books = sorted(
            {book for m in game_board.markets.values() for book, _ in m.prices}
        )
    return list(boards.values())


def _summarise(
    board: MarketBoard, current: list[Quote], sharp_books: frozenset[str], method: str
) -> None:
    """The main line, best price per side there, the fair price and every book's hold."""
    grouped = group_book_markets(current)
    for markets in grouped.values():
        for bm in markets:
            board.holds[bm.book] = bm.hold
    if not grouped:
        return
    counts = Counter({key: len(markets) for key, markets in grouped.items()})
    key = min(counts, key=lambda k: (-counts[k], k[2] if k[2] is not None else 0.0))
    board.line = key[2]
    at_line = [q for q in current if market_line(q) == board.line]
    for side in SIDES[board.market]:
        on_side = [q for q in at_line if q.side == side]
        top = best_quote(on_side)
        if top is not None:
            books = tuple(sorted(q.book for q in on_side if q.price == top.price))
            board.best[side] = (top.price, books)
    consensus = consensus_fair_probs(grouped[key], sharp_books, method)
    if consensus is not None:
        board.fair = dict(consensus.probs)
        board.consensus = consensus.describe()


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One stored quote of a game's market: a step in its line history."""

    book: str
    side: str
    price: int
    point: float | None
    at: datetime


def line_history(
    session: Session, game_key: str, market: str, limit: int = 20_000
) -> list[HistoryPoint]:
    """Every stored quote of one game's market, oldest first (prices are stored on change)."""
    q = QuoteRow
    rows = session.execute(
        select(q.book, q.side, q.price, q.point, q.last_update)
        .where(q.game_key == game_key, q.market == market)
        .order_by(q.last_update, q.book, q.side)
        .limit(limit)
    )
    return [HistoryPoint(*row) for row in rows]
