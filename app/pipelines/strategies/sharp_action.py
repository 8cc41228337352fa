"""Sharp action: a side's share of the money runs well ahead of its share of the tickets."""

from __future__ import annotations

from collections.abc import Iterator

from app.pipelines.market import MarketIndex
from app.pipelines.strategies.base import Strategy, american, book_title, fair_american
from app.pipelines.types import SIDES_BY_MARKET, Opportunity, Split


class SharpAction(Strategy):
    """money% - tickets% >= sharp_min_diff on a side, with enough tickets when counts are known.

    Split.tickets is read as the count on that side; the market's sample is the sum over its
    sides' latest splits, and the rule applies only when at least one side reports a count.
    """

    name = "sharp_action"
    needs = frozenset({"splits"})

    def _detect(self, index: MarketIndex) -> Iterator[Opportunity]:
        """Report the best current price on each side the money favours beyond the tickets."""
        cfg = self.config
        for (game_key, market, side), split in sorted(index.splits.items()):
            diff = split.money_pct - split.tickets_pct
            if diff < cfg.sharp_min_diff:
                continue
            market_splits = [
                s
                for other in SIDES_BY_MARKET.get(market, (side,))
                if (s := index.splits.get((game_key, market, other))) is not None
            ]
            tickets = _ticket_count(market_splits)
            if tickets is not None and tickets < cfg.sharp_min_tickets:
                continue
            found = self._best_with_fair(index, game_key, market, side)
            if found is None:
                continue
            quote, consensus = found
            fair = consensus.probs[quote.side] if consensus else None
            sample = f", {tickets} tickets" if tickets is not None else ""
            explanation = (
                f"Sharp action on {self._label(index, quote)}: {split.tickets_pct:.0f}% of tickets "
                f"but {split.money_pct:.0f}% of money (+{diff:.0f} pts{sample}); best "
                f"{american(quote.price)} at {book_title(quote.book)}, fair {fair_american(fair)}"
            )
            inputs = [s.as_of for s in market_splits]
            if consensus is not None:
                inputs.append(consensus.last_update)
            yield self._opportunity(
                index, quote, fair_prob=fair, explanation=explanation, inputs=inputs
            )


def _ticket_count(splits: list[Split]) -> int | None:
    """Total tickets reported across a market's sides, or None when no side reports counts."""
    counts = [s.tickets for s in splits if s.tickets is not None]
    return sum(counts) if counts else None
