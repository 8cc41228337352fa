"""Steam: at least steam_min_books books move the same side the same way within steam_window."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from app.pipelines.market import LineMove, MarketIndex, SplitKey, move_in_window
from app.pipelines.strategies.base import (
    Strategy,
    StrategyConfig,
    american,
    book_title,
    fair_american,
    move_text,
)
from app.pipelines.types import Opportunity


@dataclass(frozen=True, slots=True)
class SteamMove:
    """Books that moved one side of one market toward it, together, inside the window."""

    game_key: str
    market: str
    side: str
    moves: tuple[LineMove, ...]  # one per book, sorted by book

    @property
    def books(self) -> frozenset[str]:
        """The books that moved."""
        return frozenset(m.after.book for m in self.moves)

    @property
    def point(self) -> float | None:
        """The side's point most movers now offer (ties to the lower point)."""
        counts = Counter(m.after.point for m in self.moves)
        return min(counts, key=lambda p: (-counts[p], p if p is not None else 0.0))


def find_steam(index: MarketIndex, config: StrategyConfig) -> list[SteamMove]:
    """Every side that at least steam_min_books books moved toward by a moderate move or more
    (found once per index and config: steam and stale line both ask)."""
    key = ("steam", config)
    found = index.derived.get(key)
    if found is None:
        found = index.derived[key] = _find_steam(index, config)
    return found


def _find_steam(index: MarketIndex, config: StrategyConfig) -> list[SteamMove]:
    start = index.now - config.steam_window
    moved: dict[SplitKey, list[LineMove]] = defaultdict(list)
    for (game_key, market, side, _book), series in index.series.items():
        if series[-1].last_update <= start:
            continue  # quiet through the window (an index holds nothing after its now)
        move = move_in_window(series, start, index.now)
        if (
            move is not None
            and move.toward > 0
            and move.at_least(config.steam_min_move_cents, config.steam_min_point_move)
        ):
            moved[(game_key, market, side)].append(move)
    return [
        SteamMove(game_key, market, side, tuple(sorted(moves, key=lambda m: m.after.book)))
        for (game_key, market, side), moves in sorted(moved.items())
        if len(moves) >= config.steam_min_books
    ]


class Steam(Strategy):
    """Report the best current price on the side the steam moved toward."""

    name = "steam"

    def _detect(self, index: MarketIndex) -> Iterator[Opportunity]:
        """One opportunity per steamed side, priced against the consensus where there is one."""
        minutes = self.config.steam_window.total_seconds() / 60
        for steam in find_steam(index, self.config):
            found = self._best_with_fair(index, steam.game_key, steam.market, steam.side)
            if found is None:
                continue
            quote, consensus = found
            fair = consensus.probs[quote.side] if consensus else None
            moves = ", ".join(move_text(m) for m in steam.moves)
            explanation = (
                f"Steam on {self._label(index, quote)}: {len(steam.moves)} books moved toward it "
                f"within {minutes:g} min ({moves}); best now {american(quote.price)} at "
                f"{book_title(quote.book)}, fair {fair_american(fair)}"
            )
            inputs = [m.after.last_update for m in steam.moves]
            if consensus is not None:
                inputs.append(consensus.last_update)
            yield self._opportunity(
                index, quote, fair_prob=fair, explanation=explanation, inputs=inputs
            )
