"""Arbitrage: the best price per side across books locks in at least arb_min_profit."""

from __future__ import annotations

from collections.abc import Iterator

from app.pipelines.market import MarketIndex, best_quote
from app.pipelines.odds import ArbitrageResult, american_to_decimal, arbitrage
from app.pipelines.strategies.base import Strategy, american, book_title, percent
from app.pipelines.types import Opportunity, Quote


class Arbitrage(Strategy):
    """One arbitrage per (game, market): the most profitable line; one opportunity per leg."""

    name = "arbitrage"

    def _detect(self, index: MarketIndex) -> Iterator[Opportunity]:
        """Check every line quoted by enough books; report each leg of the best arb per market."""
        cfg = self.config
        best: dict[tuple[str, str], tuple[ArbitrageResult, list[Quote]]] = {}
        for (game_key, market, _line), markets in sorted(
            index.book_markets.items(), key=lambda item: (item[0][:2], item[0][2] or 0.0)
        ):
            if len(markets) < cfg.arb_min_books:
                continue
            # Every book market has all sides, so each side has a best quote.
            chosen = [q for s in markets[0].sides if (q := best_quote(m.quote(s) for m in markets))]
            result = arbitrage([american_to_decimal(q.price) for q in chosen])
            if not result.exists or result.profit < cfg.arb_min_profit:
                continue
            seen = best.get((game_key, market))
            if seen is None or result.profit > seen[0].profit:
                best[(game_key, market)] = (result, chosen)
        for result, legs in best.values():
            parts = " + ".join(
                f"{self._label(index, q)} {american(q.price)} at {book_title(q.book)} "
                f"(stake {stake * 100:.1f}%)"
                for q, stake in zip(legs, result.stakes, strict=True)
            )
            explanation = f"Arbitrage {percent(result.profit)} guaranteed: {parts}"
            newest = [q.last_update for q in legs]
            for quote in legs:
                yield self._opportunity(
                    index,
                    quote,
                    fair_prob=None,
                    ev=result.profit,
                    explanation=explanation,
                    inputs=newest,
                )
