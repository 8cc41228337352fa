"""Positive expected value: a book's price beats the devigged consensus by at least ev_min."""

from __future__ import annotations

from collections.abc import Iterator

from app.pipelines.market import MarketIndex
from app.pipelines.odds import american_to_decimal, expected_value
from app.pipelines.strategies.base import Strategy, american, book_title, fair_american, percent
from app.pipelines.types import Opportunity


class PositiveEV(Strategy):
    """Flag prices with EV >= ev_min against the consensus, in markets quoted by >= ev_min_books."""

    name = "ev"

    def _detect(self, index: MarketIndex) -> Iterator[Opportunity]:
        """Compare every book's current price with the consensus at the same line."""
        cfg = self.config
        for key, markets in index.book_markets.items():
            if len(markets) < cfg.ev_min_books:
                continue
            consensus = index.consensus(key, cfg.devig_method, cfg.consensus_fallback)
            if consensus is None:
                continue
            for market in markets:
                for quote in market.quotes:
                    fair = consensus.probs[quote.side]
                    ev = expected_value(fair, american_to_decimal(quote.price))
                    if ev < cfg.ev_min:
                        continue
                    explanation = (
                        f"{book_title(quote.book)} {american(quote.price)} on "
                        f"{self._label(index, quote)} vs fair {fair_american(fair)} "
                        f"({consensus.describe()}): EV {percent(ev)}"
                    )
                    yield self._opportunity(
                        index,
                        quote,
                        fair_prob=fair,
                        explanation=explanation,
                        inputs=[consensus.last_update],
                    )
