"""The Strategy ABC, its settings, and the wording shared by every strategy's explanations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from app.pipelines.market import (
    Consensus,
    ConsensusFallback,
    LineMove,
    MarketIndex,
    best_quote,
    market_line,
)
from app.pipelines.odds import (
    DEVIG_METHODS,
    american_to_decimal,
    decimal_to_american,
    expected_value,
    fractional_kelly,
)
from app.pipelines.types import Game, MarketState, Opportunity, Quote


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """Every strategy threshold, with the defaults from DOMAIN.md.

    A "cent" is a step on the American line where -100 and +100 coincide (odds.american_cents):
    -110 to -115 is 5 cents, -105 to +105 is 10. A moderate move is >= 5 cents or >= 0.5 point.
    """

    ev_min: float = 0.02  # flag a price at >= 2% EV against the consensus...
    ev_min_books: int = 3  # ...when at least this many books quote the market
    arb_min_profit: float = 0.005  # guaranteed profit 1/A - 1 must reach 0.5%
    arb_min_books: int = 2
    steam_min_books: int = 3  # books moving the same side the same way...
    steam_window: timedelta = timedelta(minutes=5)  # ...within this window...
    steam_min_move_cents: float = 5.0  # ...each by at least a moderate move
    steam_min_point_move: float = 0.5
    stale_window: timedelta = timedelta(minutes=2)  # a book unchanged this long after steam...
    stale_min_ev: float = 0.02  # ...at this EV against the movers' consensus is stale
    rlm_min_tickets_pct: float = 60.0  # public side: at least this share of tickets
    rlm_min_books: int = 2  # books whose public-side price moved against the public
    rlm_min_move_cents: float = 5.0  # since the first quote in the lookback window
    rlm_min_point_move: float = 0.5
    sharp_min_diff: float = 10.0  # money% - tickets%, in percentage points
    sharp_min_tickets: int = 100  # total tickets on the market, when the source reports counts
    kelly_fraction: float = 0.25
    kelly_cap: float = 0.02
    devig_method: str = "multiplicative"
    consensus_fallback: ConsensusFallback = "lowest_hold"  # without sharp books

    def __post_init__(self) -> None:
        """Refuse settings no strategy could use, naming the setting."""
        if self.devig_method not in DEVIG_METHODS:
            raise ValueError(
                f"devig_method must be one of {DEVIG_METHODS}, not {self.devig_method!r}"
            )
        if self.consensus_fallback not in ("lowest_hold", "median"):
            raise ValueError(
                f"consensus_fallback must be lowest_hold or median, not {self.consensus_fallback!r}"
            )
        for name in ("steam_window", "stale_window"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be a positive duration")
        for name in ("ev_min_books", "arb_min_books", "steam_min_books", "rlm_min_books"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0.0 < self.kelly_fraction <= 1.0:
            raise ValueError("kelly_fraction must be in (0, 1]")
        if not 0.0 <= self.kelly_cap <= 1.0:
            raise ValueError("kelly_cap must be in [0, 1]")
        if not 0.0 <= self.rlm_min_tickets_pct <= 100.0:
            raise ValueError("rlm_min_tickets_pct must be between 0 and 100")


BOOK_TITLES: dict[str, str] = {
    "pinnacle": "Pinnacle",
    "circa": "Circa",
    "draftkings": "DraftKings",
    "fanduel": "FanDuel",
    "betmgm": "BetMGM",
    "williamhill_us": "Caesars",
    "caesars": "Caesars",
    "betrivers": "BetRivers",
    "pointsbetus": "PointsBet (US)",
    "espnbet": "ESPN BET",
    "fanatics": "Fanatics",
    "hardrockbet": "Hard Rock Bet",
    "bovada": "Bovada",
    "betonlineag": "BetOnline.ag",
    "lowvig": "LowVig.ag",
    "mybookieag": "MyBookie.ag",
    "betus": "BetUS",
}


def book_title(book: str) -> str:
    """A book's display name (its key when unknown)."""
    return BOOK_TITLES.get(book, book)


def american(price: int) -> str:
    """American odds with their sign, e.g. '+135' or '-110'."""
    return f"{price:+d}"


def fair_american(p: float | None) -> str:
    """The no-vig American price of a probability, or 'n/a'."""
    if p is None or not 0.0 < p < 1.0:
        return "n/a"
    return american(decimal_to_american(1.0 / p))


def percent(x: float) -> str:
    """A signed percentage with one decimal, e.g. '+4.1%'."""
    return f"{x * 100:+.1f}%"


def side_label(game: Game | None, market: str, side: str, point: float | None) -> str:
    """What a bettor would call the bet: 'BOS ML', 'NYY -1.5', 'Over 8.5'."""
    if side in ("over", "under"):
        return f"{side.title()} {point:g}" if point is not None else side.title()
    team = (game.home if side == "home" else game.away) if game else side
    if market == "h2h" or point is None:
        return f"{team} ML"
    return f"{team} {point:+g}"


class Strategy(ABC):
    """A detector of opportunities; `detect` applies the global guards around `_detect`."""

    name: ClassVar[str]
    needs: ClassVar[frozenset[str]] = frozenset({"quotes"})  # kinds of data it reads

    def __init__(self, config: StrategyConfig | None = None) -> None:
        """Keep the settings this strategy reads."""
        self.config = config or StrategyConfig()

    def detect(
        self, state: MarketState, now: datetime, index: MarketIndex | None = None
    ) -> list[Opportunity]:
        """Opportunities at `now`: upcoming games only, one per (game, market, side), sorted.

        Pass `index` (built once from the same state and now) to share it between strategies.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (UTC)")
        if index is None or index.now != now:
            index = MarketIndex.build(state, now)
        found = [opp for opp in self._detect(index) if opp.game_key in index.games]
        best: dict[tuple[str, str, str], Opportunity] = {}
        for opp in sorted(found, key=_preference):
            best.setdefault((opp.game_key, opp.market, opp.side), opp)
        return sorted(best.values(), key=_order)

    @abstractmethod
    def _detect(self, index: MarketIndex) -> Iterable[Opportunity]:
        """Find this strategy's opportunities in an index of upcoming games as of index.now."""

    def _opportunity(
        self,
        index: MarketIndex,
        quote: Quote,
        *,
        fair_prob: float | None,
        explanation: str,
        inputs: Iterable[datetime] = (),
        ev: float | None = None,
    ) -> Opportunity:
        """An Opportunity on `quote`; EV and capped fractional Kelly from fair_prob when known."""
        decimal = american_to_decimal(quote.price)
        kelly = 0.0
        if fair_prob is not None:
            kelly = fractional_kelly(
                fair_prob, decimal, self.config.kelly_fraction, self.config.kelly_cap
            )
            if ev is None:
                ev = expected_value(fair_prob, decimal)
        return Opportunity(
            strategy=self.name,
            game_key=quote.game_key,
            market=quote.market,
            side=quote.side,
            book=quote.book,
            price=quote.price,
            point=quote.point,
            fair_prob=fair_prob,
            ev=0.0 if ev is None else ev,
            kelly_fraction=kelly,
            data_available_at=max([quote.last_update, *inputs]),
            detected_at=index.now,
            explanation=explanation,
        )

    def _best_with_fair(
        self, index: MarketIndex, game_key: str, market: str, side: str
    ) -> tuple[Quote, Consensus | None] | None:
        """Best current price on a side at its main line, with the consensus there if any."""
        point = index.main_line(game_key, market, side)
        quote = best_quote(
            q for q in index.quotes_for_side(game_key, market, side) if q.point == point
        )
        if quote is None:
            return None
        key = (game_key, market, market_line(quote))
        consensus = index.consensus(key, self.config.devig_method, self.config.consensus_fallback)
        return quote, consensus

    def _label(self, index: MarketIndex, quote: Quote) -> str:
        """The bettor's name for the side a quote prices."""
        return side_label(index.games.get(quote.game_key), quote.market, quote.side, quote.point)


def _preference(opp: Opportunity) -> tuple[float, float, str, float]:
    """Sort key putting the most valuable opportunity for a side first, deterministically."""
    return (-opp.ev, -american_to_decimal(opp.price), opp.book, opp.point or 0.0)


def _order(opp: Opportunity) -> tuple[str, str, str, str, str]:
    """Stable output order."""
    return (opp.game_key, opp.market, opp.side, opp.strategy, opp.book)


def move_text(move: LineMove) -> str:
    """A line move as a bettor reads it, e.g. 'DraftKings -120->-135' or 'FanDuel 8.5->9 -110'."""
    before, after = move.before, move.after
    if move.point_change:
        return (
            f"{book_title(after.book)} {before.point:g} {american(before.price)}"
            f"->{after.point:g} {american(after.price)}"
        )
    return f"{book_title(after.book)} {american(before.price)}->{american(after.price)}"
