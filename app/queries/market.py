"""The market's state as the pipelines know it (the games table): open, in play or closed, the
next first pitch, and why nothing is due while it is closed. Plain data for the pill every page
shows and for the freshness card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Game
from app.pipelines.context import MARKET_OPEN_BEFORE_S

OPEN_BEFORE = timedelta(seconds=MARKET_OPEN_BEFORE_S)  # lines are up this long before a game
OFF_SEASON = (
    "no games on the schedule: MLB's off-season (spring training starts in late February, "
    "the regular season in late March)."
)


@dataclass(frozen=True, slots=True)
class MarketView:
    """Whether lines are up now, games in play, the next first pitch and a sentence saying so."""

    status: str  # open | closed
    in_play: int
    next_first_pitch: datetime | None
    opens_at: datetime | None  # closed: when the next game's lines go up
    reason: str  # closed: why nothing is due; open: what is coming up

    @property
    def is_open(self) -> bool:
        """Whether a game is due (its lines up): freshness counts only then."""
        return self.status == "open"


def market_view(session: Session, now: datetime, source: str = "demo") -> MarketView:
    """The market at `now`: open while a scheduled game starts within the lines' lead time."""
    g = Game
    upcoming = (
        g.status == "scheduled",
        g.commence_time > now,
        g.start_time_source.is_distinct_from("tbd"),  # a placeholder time is no first pitch
    )
    nxt = session.scalar(select(func.min(g.commence_time)).where(*upcoming))
    due = session.scalar(
        select(func.count()).select_from(g).where(*upcoming, g.commence_time <= now + OPEN_BEFORE)
    )
    in_play = session.scalar(select(func.count()).select_from(g).where(g.status == "live")) or 0
    nxt = _aware(nxt)
    if due:
        assert nxt is not None
        return MarketView("open", in_play, nxt, None, f"{due} games with lines up")
    if nxt is not None:
        opens = nxt - OPEN_BEFORE
        reason = f"nothing is due until the next game's lines go up at {opens:%a %H:%M} UTC"
        return MarketView("closed", in_play, nxt, opens, reason)
    if source == "odds_api":
        return MarketView("closed", in_play, None, None, OFF_SEASON)
    return MarketView(
        "closed", in_play, None, None, "no games known yet: the first collection brings the slate"
    )


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
