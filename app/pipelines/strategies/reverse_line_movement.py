"""Reverse line movement: most tickets on one side while its price drifts away from it."""

from __future__ import annotations

from collections.abc import Iterator

from app.pipelines.market import LineMove, MarketIndex, line_move
from app.pipelines.strategies.base import (
    Strategy,
    american,
    book_title,
    fair_american,
    move_text,
    side_label,
)
from app.pipelines.types import SIDES_BY_MARKET, Opportunity, Split


class ReverseLineMovement(Strategy):
    """Public side >= rlm_min_tickets_pct of tickets, yet most moving books made it cheaper.

    Moves are measured per book from its first quote in the lookback window to its current one.
    A line moving WITH the public is not RLM. The opportunity is on the other (sharp) side.
    """

    name = "reverse_line_movement"
    needs = frozenset({"quotes", "splits"})

    def _detect(self, index: MarketIndex) -> Iterator[Opportunity]:
        """Check every side whose latest split shows a ticket majority above the threshold."""
        cfg = self.config
        for (game_key, market, public_side), split in sorted(index.splits.items()):
            sides = SIDES_BY_MARKET.get(market)
            if sides is None or public_side not in sides:
                continue
            if split.tickets_pct < cfg.rlm_min_tickets_pct:
                continue
            against, with_public = self._public_side_moves(index, split)
            if len(against) < cfg.rlm_min_books or len(against) <= len(with_public):
                continue
            sharp_side = sides[1] if public_side == sides[0] else sides[0]
            found = self._best_with_fair(index, game_key, market, sharp_side)
            if found is None:
                continue
            quote, consensus = found
            fair = consensus.probs[quote.side] if consensus else None
            game = index.games.get(game_key)
            public_point = against[0].after.point
            explanation = (
                f"RLM: {split.tickets_pct:.0f}% of tickets on "
                f"{side_label(game, market, public_side, public_point)} but {len(against)} books "
                f"moved against it ({', '.join(move_text(m) for m in against)}); best "
                f"{self._label(index, quote)} {american(quote.price)} at {book_title(quote.book)}, "
                f"fair {fair_american(fair)}"
            )
            inputs = [split.as_of, *(m.after.last_update for m in against)]
            if consensus is not None:
                inputs.append(consensus.last_update)
            yield self._opportunity(
                index, quote, fair_prob=fair, explanation=explanation, inputs=inputs
            )

    def _public_side_moves(
        self, index: MarketIndex, split: Split
    ) -> tuple[list[LineMove], list[LineMove]]:
        """Books whose public-side line moved against the public, and those that moved with it."""
        cfg = self.config
        against: list[LineMove] = []
        with_public: list[LineMove] = []
        for quote in index.quotes_for_side(split.game_key, split.market, split.side):
            series = index.series[(quote.game_key, quote.market, quote.side, quote.book)]
            opening, current = series[0], series[-1]
            if (opening.price, opening.point) == (current.price, current.point):
                continue
            move = line_move(opening, current)
            if not move.at_least(cfg.rlm_min_move_cents, cfg.rlm_min_point_move):
                continue
            (against if move.toward < 0 else with_public).append(move)
        return against, with_public
