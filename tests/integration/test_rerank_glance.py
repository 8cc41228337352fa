"""The recommend stage's glance at the open bets (both databases): a run with no new bet skips
the close and rerank only when it would change nothing, and the glance sees every reason it
would: a game that started, a gap left by a bet no longer open, ranks not yet given."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.models import Recommendation
from app.pipelines.stages.recommend import close_and_rerank, nothing_to_close_or_rerank
from tests.integration.bets_data import NOW, _game, _rec


def _ranks(db) -> dict[str, tuple[str, int]]:
    with db.session() as s:
        return {r.bet_key: (r.status, r.rank) for r in s.scalars(select(Recommendation))}


def test_the_glance_sees_every_change_a_rerank_would_make(db) -> None:
    with db.session() as s:
        s.add_all(
            [
                _game("G1", "SEA", "TEX", NOW + timedelta(hours=2)),
                _game("G2", "BOS", "NYY", NOW + timedelta(hours=4)),
                _rec("a", "G1", ev=0.05),
                _rec("b", "G2", ev=0.04, side="away"),
                _rec("c", "G2", ev=0.03),
            ]
        )
    with db.session() as s:
        assert not nothing_to_close_or_rerank(s, NOW)  # new bets, ranks not given yet (0)
        close_and_rerank(s, NOW, ["demo"], frozenset(), "multiplicative")
    assert _ranks(db) == {"a": ("open", 1), "b": ("open", 2), "c": ("open", 3)}
    with db.session() as s:
        assert nothing_to_close_or_rerank(s, NOW)  # ranked 1..n, nothing started
    with db.session() as s:  # the middle bet leaves the open ones: a gap
        s.scalars(
            select(Recommendation).where(Recommendation.bet_key == "b")
        ).one().status = "graded"
        assert not nothing_to_close_or_rerank(s, NOW)
        close_and_rerank(s, NOW, ["demo"], frozenset(), "multiplicative")
    assert _ranks(db) == {"a": ("open", 1), "b": ("graded", 2), "c": ("open", 2)}
    with db.session() as s:
        assert nothing_to_close_or_rerank(s, NOW + timedelta(hours=1))
        assert not nothing_to_close_or_rerank(s, NOW + timedelta(hours=2))  # G1's first pitch
