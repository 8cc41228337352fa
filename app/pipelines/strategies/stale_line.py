"""Stale line: after steam, a book unmoved for stale_window still offers the old value."""

from __future__ import annotations

from collections.abc import Iterator

from app.pipelines.market import MarketIndex, consensus_fair_probs, last_change_at, market_line
from app.pipelines.odds import american_to_decimal, expected_value
from app.pipelines.strategies.base import Strategy, american, book_title, fair_american, percent
from app.pipelines.strategies.steam import find_steam
from app.pipelines.types import Opportunity


class StaleLine(Strategy):
    """Price the books that did not follow a steam move against the movers' new consensus."""

    name = "stale_line"

    def _detect(self, index: MarketIndex) -> Iterator[Opportunity]:
        """For each steam, flag unmoved books at the movers' line with EV >= stale_min_ev."""
        cfg = self.config
        quiet_since = index.now - cfg.stale_window
        for steam in find_steam(index, cfg):
            point = steam.point
            candidates = [
                q
                for q in index.quotes_for_side(steam.game_key, steam.market, steam.side)
                if q.point == point
            ]
            if not candidates:
                continue
            key = (steam.game_key, steam.market, market_line(candidates[0]))
            movers = [m for m in index.book_markets.get(key, []) if m.book in steam.books]
            consensus = consensus_fair_probs(
                movers, index.sharp_books, cfg.devig_method, cfg.consensus_fallback
            )
            if consensus is None:
                continue
            fair = consensus.probs[steam.side]
            for quote in candidates:
                if quote.book in steam.books:
                    continue
                series = index.series[(quote.game_key, quote.market, quote.side, quote.book)]
                changed = last_change_at(series, index.now)
                if changed is None or changed > quiet_since:
                    continue
                ev = expected_value(fair, american_to_decimal(quote.price))
                if ev < cfg.stale_min_ev:
                    continue
                explanation = (
                    f"Stale {book_title(quote.book)} {american(quote.price)} on "
                    f"{self._label(index, quote)}: unchanged since {changed:%H:%M:%S} UTC while "
                    f"{len(steam.moves)} books moved toward it; fair now {fair_american(fair)} "
                    f"({consensus.describe()}): EV {percent(ev)}"
                )
                # the line became stale, and so detectable, stale_window after its last change
                inputs = [m.after.last_update for m in steam.moves]
                inputs += [consensus.last_update, changed + cfg.stale_window]
                yield self._opportunity(
                    index, quote, fair_prob=fair, explanation=explanation, inputs=inputs
                )
