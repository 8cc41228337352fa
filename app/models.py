"""The data model for the whole mission: people, the run ledger, market data, results, control."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow
from app.vocabulary import Role, RunStatus

ROLES: tuple[str, ...] = tuple(r.value for r in Role)  # app.users reads roles here


def _uuid() -> uuid.UUID:
    return uuid.uuid4()


def _pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=_uuid)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)


# --- people --------------------------------------------------------------------------------


class User(Base):
    """A person who can log in, with exactly one role."""

    __tablename__ = "users"
    id: Mapped[uuid.UUID] = _pk()
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default=Role.VIEWER.value)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A server-side login session; the cookie carries only its id, so logout can revoke it."""

    __tablename__ = "user_sessions"
    id: Mapped[uuid.UUID] = _pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # for the idle timeout
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    user: Mapped[User] = relationship(lazy="joined")


class LoginCounter(Base):
    """Sign-in attempts counted per key (an account, a client address, or the two together),
    so every worker slows the same guesser down and nobody else."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- the run ledger ------------------------------------------------------------------------


class PipelineRun(Base):
    """One run of one pipeline; written before work starts. A scheduled tick runs once."""

    __tablename__ = "pipeline_runs"
    id: Mapped[uuid.UUID] = _pk()
    pipeline: Mapped[str] = mapped_column(String(32), nullable=False)  # a vocabulary.Pipeline
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # a vocabulary.Trigger
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(  # a vocabulary.RunStatus
        String(16), nullable=False, default=RunStatus.RUNNING.value
    )
    actor: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str] = mapped_column(String(64), nullable=False)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_runs.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    error_type: Mapped[str | None] = mapped_column(String(128))
    error_message: Mapped[str | None] = mapped_column(Text)
    # The term the run writes under (app/pipelines/ledger.py): its claim, renewed by a
    # heartbeat, and, for runs a scheduler leader executes itself, that leader's epoch.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leader_epoch: Mapped[int | None] = mapped_column(BigInteger)
    fence: Mapped[str | None] = mapped_column(String(8))  # "leader" | "claim"
    stages: Mapped[list[StageRun]] = relationship(
        back_populates="run", order_by="StageRun.started_at", cascade="all, delete-orphan"
    )
    __table_args__ = (
        UniqueConstraint("pipeline", "scheduled_for", name="uq_pipeline_runs_tick"),
        Index("ix_pipeline_runs_started", "started_at"),
        Index("ix_pipeline_runs_pipeline_started", "pipeline", "started_at"),
        Index("ix_pipeline_runs_status_created", "status", "created_at"),  # failures, newest first
        Index("ix_pipeline_runs_created", "created_at"),
        Index("ix_pipeline_runs_parent", "parent_run_id"),
        Index("ix_pipeline_runs_status_heartbeat", "status", "heartbeat_at"),
    )


class StageRun(Base):
    """One stage of a run, with timings, records in/out and a typed error."""

    __tablename__ = "stage_runs"
    id: Mapped[uuid.UUID] = _pk()
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False
    )
    stage: Mapped[str] = mapped_column(String(32), nullable=False)  # a vocabulary.Stage
    status: Mapped[str] = mapped_column(  # a vocabulary.RunStatus
        String(16), nullable=False, default=RunStatus.RUNNING.value
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    records_in: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    records_out: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_type: Mapped[str | None] = mapped_column(String(128))
    error_message: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    run: Mapped[PipelineRun] = relationship(back_populates="stages")
    __table_args__ = (Index("ix_stage_runs_run", "run_id"),)


# --- market data ---------------------------------------------------------------------------


class Game(Base):
    """One MLB game under its canonical key; scores arrive when it ends."""

    __tablename__ = "games"
    id: Mapped[uuid.UUID] = _pk()
    game_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    home: Mapped[str] = mapped_column(String(8), nullable=False)
    away: Mapped[str] = mapped_column(String(8), nullable=False)
    commence_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="scheduled")
    home_score: Mapped[int | None] = mapped_column(Integer)
    away_score: Mapped[int | None] = mapped_column(Integer)
    source_ref: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = _created()
    # From the official schedule (MLB Stats API): gamePk is shared by a postponed game and its
    # makeup; game_number tells a doubleheader's games apart.
    mlb_game_pk: Mapped[int | None] = mapped_column(Integer)
    game_number: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    start_time_source: Mapped[str | None] = mapped_column(String(16))  # odds|schedule|tbd
    detailed_state: Mapped[str | None] = mapped_column(String(64))  # e.g. "Completed Early"
    innings: Mapped[float | None] = mapped_column(Float)  # innings played, when known
    __table_args__ = (
        Index("ix_games_commence", "commence_time"),
        Index("ix_games_mlb_game_pk", "mlb_game_pk"),
    )


class GameLink(Base):
    """Which game a source's own event id stands for, kept so a cold process keys it the same.

    `confirmed` links were matched to the official schedule; others were keyed by the odds
    feed alone and are matched again until the schedule confirms them."""

    __tablename__ = "game_links"
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    game_key: Mapped[str] = mapped_column(String(64), nullable=False)
    confirmed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    commence_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    linked_at: Mapped[datetime] = _created()
    __table_args__ = (Index("ix_game_links_game", "game_key"),)


class SourceSnapshot(Base):
    """One fetch from one source; identical content is stored once (content hash)."""

    __tablename__ = "source_snapshots"
    id: Mapped[uuid.UUID] = _pk()
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    newest_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quotes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    splits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_runs.id"))
    __table_args__ = (
        UniqueConstraint("source", "content_hash", name="uq_source_snapshots_hash"),
        Index("ix_source_snapshots_source_fetched", "source", "fetched_at"),
        Index("ix_source_snapshots_run", "run_id"),  # what a run wrote (its page)
    )


class QuoteRow(Base):
    """One stored price; a price is stored again only when it changed."""

    __tablename__ = "quotes"
    id: Mapped[uuid.UUID] = _pk()
    snapshot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("source_snapshots.id"))
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    game_key: Mapped[str] = mapped_column(String(64), nullable=False)
    market: Mapped[str] = mapped_column(String(16), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    book: Mapped[str] = mapped_column(String(32), nullable=False)
    price: Mapped[int] = mapped_column(Integer, nullable=False)
    point: Mapped[float | None] = mapped_column(Float)
    last_update: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    __table_args__ = (
        UniqueConstraint(
            "source", "game_key", "market", "side", "book", "last_update", name="uq_quotes_version"
        ),
        Index("ix_quotes_last_update", "last_update"),
        Index("ix_quotes_game_market", "game_key", "market"),
        Index("ix_quotes_snapshot", "snapshot_id"),
    )


class SplitRow(Base):
    """Public betting split for one side at one moment."""

    __tablename__ = "splits"
    id: Mapped[uuid.UUID] = _pk()
    snapshot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("source_snapshots.id"))
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    game_key: Mapped[str] = mapped_column(String(64), nullable=False)
    market: Mapped[str] = mapped_column(String(16), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    tickets_pct: Mapped[float] = mapped_column(Float, nullable=False)
    money_pct: Mapped[float] = mapped_column(Float, nullable=False)
    tickets: Mapped[int | None] = mapped_column(Integer)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    __table_args__ = (
        UniqueConstraint("source", "game_key", "market", "side", "as_of", name="uq_splits_version"),
        Index("ix_splits_as_of", "as_of"),
    )


class SourceState(Base):
    """Per source: newest data seen (never goes backwards), last fetch, last error, quota."""

    __tablename__ = "source_states"
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    newest_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_type: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    quota_remaining: Mapped[int | None] = mapped_column(Integer)
    quota_used: Mapped[int | None] = mapped_column(Integer)
    # Freshness per kind of data, and what the source declared it provides.
    newest_quote_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    newest_split_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provides: Mapped[list[str] | None] = mapped_column(JSON)
    # Per-source resilience and the quota plan: failures in a row, no request before
    # retry_at (backoff, Retry-After), and the paid poll the plan allows next.
    consecutive_failures: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuotaSample(Base):
    """Credits left and used as a metered source reported them, for burn rate and run-out."""

    __tablename__ = "quota_samples"
    id: Mapped[uuid.UUID] = _pk()
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
    used: Mapped[int | None] = mapped_column(Integer)
    last: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (Index("ix_quota_samples_source_at", "source", "at"),)


class QuarantinedRow(Base):
    """A row that failed validation, kept with the source, the field and the reason."""

    __tablename__ = "quarantined_rows"
    id: Mapped[uuid.UUID] = _pk()
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    field: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(255), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    snapshot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("source_snapshots.id"))
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_runs.id"))
    created_at: Mapped[datetime] = _created()
    __table_args__ = (Index("ix_quarantined_rows_created", "created_at"),)


# --- what the pipelines found ---------------------------------------------------------------


class OpportunityRow(Base):
    """One opportunity a strategy detected, with its detection latency inputs."""

    __tablename__ = "opportunities"
    id: Mapped[uuid.UUID] = _pk()
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_runs.id"))
    strategy: Mapped[str] = mapped_column(String(32), nullable=False)
    game_key: Mapped[str] = mapped_column(String(64), nullable=False)
    market: Mapped[str] = mapped_column(String(16), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    book: Mapped[str] = mapped_column(String(32), nullable=False)
    price: Mapped[int] = mapped_column(Integer, nullable=False)
    point: Mapped[float | None] = mapped_column(Float)
    fair_prob: Mapped[float | None] = mapped_column(Float)
    ev: Mapped[float] = mapped_column(Float, nullable=False)
    kelly_fraction: Mapped[float] = mapped_column(Float, nullable=False)
    data_available_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    explanation: Mapped[str] = mapped_column(Text, nullable=False)
    # Same strategy, bet, price and triggering data: the same opportunity, stored once.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    __table_args__ = (
        Index("ix_opportunities_detected", "detected_at"),
        Index("ix_opportunities_run", "run_id"),
        Index("ix_opportunities_strategy_detected", "strategy", "detected_at"),
    )


def _legacy_bet_key(context: Any) -> str:
    """A bet key for a row written without one: per strategy, as rows were keyed before."""
    p = context.get_current_parameters()
    point = "" if p.get("point") is None else f"{p['point']:g}"
    return f"{p['game_key']}|{p['market']}|{p['side']}|{point}|{p['strategy']}"


class Recommendation(Base):
    """One bet per (game, market, side, point) whatever the strategies that signalled it, or
    one arbitrage position per (game, market, line): updated while open, never duplicated.

    `strategy` is the signal with the highest EV (grades are attributed to it), `strategies`
    lists every one. `clv` is PRICE CLV against the devigged sharp close at the bet's point;
    `line_clv` is line CLV in points against the sharp closing point; `clv_basis` says which
    of them exist ("price", "line", "price+line")."""

    __tablename__ = "recommendations"
    id: Mapped[uuid.UUID] = _pk()
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("opportunities.id"))
    bet_key: Mapped[str] = mapped_column(String(160), nullable=False, default=_legacy_bet_key)
    kind: Mapped[str] = mapped_column(
        String(16), nullable=False, default="single", server_default="single"
    )  # single | arbitrage
    strategies: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    strategy: Mapped[str] = mapped_column(String(32), nullable=False)
    game_key: Mapped[str] = mapped_column(String(64), nullable=False)
    market: Mapped[str] = mapped_column(String(16), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    book: Mapped[str] = mapped_column(String(32), nullable=False)
    price: Mapped[int] = mapped_column(Integer, nullable=False)
    point: Mapped[float | None] = mapped_column(Float)
    ev: Mapped[float] = mapped_column(Float, nullable=False)
    stake_units: Mapped[float] = mapped_column(Float, nullable=False)
    rank: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    close_price: Mapped[int | None] = mapped_column(Integer)  # the bet's book, its last quote
    close_point: Mapped[float | None] = mapped_column(Float)  # the sharp closing point
    close_fair_prob: Mapped[float | None] = mapped_column(Float)
    clv: Mapped[float | None] = mapped_column(Float)
    line_clv: Mapped[float | None] = mapped_column(Float)
    clv_basis: Mapped[str | None] = mapped_column(String(16))
    clv_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the close was read
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()
    legs: Mapped[list[RecommendationLeg]] = relationship(
        order_by="RecommendationLeg.side", cascade="all, delete-orphan"
    )
    __table_args__ = (
        UniqueConstraint("bet_key", name="uq_recommendations_bet_key"),
        Index("ix_recommendations_status", "status"),
        Index("ix_recommendations_opportunity", "opportunity_id"),
        Index("ix_recommendations_game", "game_key"),
        # the book picker's walk over the books of single bets (an arbitrage's are its legs')
        Index(
            "ix_recommendations_single_book",
            "book",
            postgresql_where=text("kind <> 'arbitrage'"),
            sqlite_where=text("kind <> 'arbitrage'"),
        ),
        # the bets not graded yet: the tail the bets page's totals add to their rollup
        Index(
            "ix_recommendations_ungraded",
            "created_at",
            postgresql_where=text("status <> 'graded'"),
            sqlite_where=text("status <> 'graded'"),
        ),
    )


class RecommendationLeg(Base):
    """One leg of an arbitrage position: a side at a book, staked so every leg pays alike."""

    __tablename__ = "recommendation_legs"
    id: Mapped[uuid.UUID] = _pk()
    recommendation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recommendations.id", ondelete="CASCADE"), nullable=False
    )
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    book: Mapped[str] = mapped_column(String(32), nullable=False)
    price: Mapped[int] = mapped_column(Integer, nullable=False)
    point: Mapped[float | None] = mapped_column(Float)
    stake_units: Mapped[float] = mapped_column(Float, nullable=False)
    __table_args__ = (
        Index("ix_recommendation_legs_rec", "recommendation_id"),
        Index("ix_recommendation_legs_book", "book"),  # the book picker's walk
    )


class Grade(Base):
    """The result of one recommendation once its game is final (or void)."""

    __tablename__ = "grades"
    id: Mapped[uuid.UUID] = _pk()
    recommendation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recommendations.id"), unique=True, nullable=False
    )
    strategy: Mapped[str] = mapped_column(String(32), nullable=False)
    result: Mapped[str] = mapped_column(String(8), nullable=False)  # win|loss|push|void
    stake_units: Mapped[float] = mapped_column(Float, nullable=False)
    profit_units: Mapped[float] = mapped_column(Float, nullable=False)
    clv: Mapped[float | None] = mapped_column(Float)  # price CLV (see Recommendation)
    line_clv: Mapped[float | None] = mapped_column(Float)  # line CLV in points
    strategies: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    graded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (
        Index("ix_grades_strategy_graded", "strategy", "graded_at"),
        Index("ix_grades_graded", "graded_at"),  # the rollup's first day and unsettled edge
    )


# --- rollups of settled history (kept by app.rollups) ------------------------------------------


class RollupRunDay(Base):
    """Runs created on one UTC day, per pipeline, status and trigger (pipeline '*': day done)."""

    __tablename__ = "rollup_run_days"
    day: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    timed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duration_sum_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    duration_max_ms: Mapped[float | None] = mapped_column(Float)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RollupRunBucket(Base):
    """One chart bucket of runs by start time: duration percentiles and outcomes, per pipeline."""

    __tablename__ = "rollup_run_buckets"
    size_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    timed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    p50_ms: Mapped[float | None] = mapped_column(Float)
    p95_ms: Mapped[float | None] = mapped_column(Float)
    p99_ms: Mapped[float | None] = mapped_column(Float)
    finished: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    __table_args__ = (Index("ix_rollup_run_buckets_span", "bucket_start", "bucket_end"),)


class RollupGridSlot(Base):
    """One pipeline's runs of one status in one slot of the grid of runs: how many, their
    summed duration, the newest start and that newest run (the cell links to it)."""

    __tablename__ = "rollup_grid_slots"
    size_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    slot_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    runs: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    timed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duration_ms_sum: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    newest_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    newest_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    __table_args__ = (Index("ix_rollup_grid_slots_span", "slot_start", "slot_end"),)


class RollupSloHour(Base):
    """Events and bad events of one SLO in one UTC hour."""

    __tablename__ = "rollup_slo_hours"
    slo: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    events: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bad: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    __table_args__ = (Index("ix_rollup_slo_hours_hour", "hour"),)


class GradeDaySums:
    """The sums of a grade day rollup row and of its block: record (settled, no voids), stake,
    profit, CLV sum and a CLV histogram."""

    bets: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    wins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    losses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pushes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    staked: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    units: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    clv_sum: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    clv_n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    clv_bins: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)


class GradeSplitSums:
    """The additive sums of a grade split rollup row and of its block (voids left out)."""

    bets: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    wins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    losses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pushes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    staked: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    units: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    units_sq: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    units_stake: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    stake_sq: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    clv_n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    clv_sum: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    clv_sq: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)


class RollupGradeDay(GradeDaySums, Base):
    """Bets graded on one UTC day for one strategy: record, stake, profit, CLV sum and a CLV
    histogram (strategy '*': the day was computed, even when nothing was graded)."""

    __tablename__ = "rollup_grade_days"
    day: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32), primary_key=True)


class RollupGradeSplit(GradeSplitSums, Base):
    """Bets graded on one UTC day for one strategy at one book in one market, voids left out:
    the additive sums of the strategies page's statistics (strategy '*': the day was computed,
    even when nothing was graded)."""

    __tablename__ = "rollup_grade_splits"
    day: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32), primary_key=True)
    book: Mapped[str] = mapped_column(String(32), primary_key=True)
    market: Mapped[str] = mapped_column(String(16), primary_key=True)


class RollupGradeDayBlock(GradeDaySums, Base):
    """The RollupGradeDay rows of one fixed 30-day block (aligned to the epoch) summed per
    strategy, so a long window reads a dozen blocks and its ragged days (strategy '*': every
    day of the block since the first grade was stored when the block was summed)."""

    __tablename__ = "rollup_grade_day_blocks"
    block: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32), primary_key=True)


class RollupGradeSplitBlock(GradeSplitSums, Base):
    """The RollupGradeSplit rows of one fixed 30-day block (aligned to the epoch) summed per
    strategy, book and market (strategy '*': every day of the block since the first grade was
    stored when the block was summed)."""

    __tablename__ = "rollup_grade_split_blocks"
    block: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32), primary_key=True)
    book: Mapped[str] = mapped_column(String(32), primary_key=True)
    market: Mapped[str] = mapped_column(String(16), primary_key=True)


class RollupBetTotal(Base):
    """Bets graded in one slice of time (a 30-day block or a UTC day), summed per the bets
    page's filter keys: `tags` and `books` hold every strategy and book that filter finds the
    bet under ('|ev|steam|', '|betmgm|...'), `state` is settled or void (tags '*': the slice
    was computed, even when nothing was graded in it)."""

    __tablename__ = "rollup_bet_totals"
    size_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    tags: Mapped[str] = mapped_column(Text, primary_key=True)
    books: Mapped[str] = mapped_column(Text, primary_key=True)
    market: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(8), primary_key=True)
    slot_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    bets: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    staked: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    settled: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    settled_staked: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    units: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    clv_n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    clv_sum: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    wins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    losses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pushes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    __table_args__ = (Index("ix_rollup_bet_totals_span", "slot_start", "slot_end"),)


# --- control ---------------------------------------------------------------------------------


class CircuitBreaker(Base):
    """Breaker state per job, shared by every worker."""

    __tablename__ = "circuit_breakers"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="closed")
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = _created()


class SchedulerCommand(Base):
    """A command any worker writes and the scheduler leader applies."""

    __tablename__ = "scheduler_commands"
    id: Mapped[uuid.UUID] = _pk()
    command: Mapped[str] = mapped_column(String(32), nullable=False)
    target: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)  # its request's audit record
    outcome_seq: Mapped[int | None] = mapped_column(BigInteger)  # its outcome's audit record
    __table_args__ = (Index("ix_scheduler_commands_status", "status", "created_at"),)


class JobSchedule(Base):
    """The schedule as data: an operator changes cadence without code."""

    __tablename__ = "job_schedules"
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(32), nullable=False)
    interval_s: Mapped[int] = mapped_column(Integer, nullable=False)
    priority: Mapped[str] = mapped_column(String(16), nullable=False, default="default")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_at: Mapped[datetime] = _created()


class QueuedJob(Base):
    """A run waiting in the database queue, claimed once by one worker."""

    __tablename__ = "job_queue"
    id: Mapped[uuid.UUID] = _pk()
    pipeline: Mapped[str] = mapped_column(String(32), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    enqueued_at: Mapped[datetime] = _created()
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_runs.id"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_job_queue_status", "status", "priority", "enqueued_at"),)


class SchedulerLease(Base):
    """The leader lease: holder, heartbeat and an epoch that fences stale leaders."""

    __tablename__ = "scheduler_lease"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunLogLine(Base):
    """One log record emitted while a run's correlation id was set (app.observability.run_logs):
    kept with the run for its page, bounded per run and pruned after a retention period."""

    __tablename__ = "run_logs"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # no FK: a line may precede its row
    correlation_id: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    levelno: Mapped[int] = mapped_column(Integer, nullable=False)
    level: Mapped[str] = mapped_column(String(8), nullable=False)
    logger: Mapped[str] = mapped_column(String(64), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    __table_args__ = (
        Index("ix_run_logs_run", "run_id", "id"),
        Index("ix_run_logs_correlation", "correlation_id", "id"),
        Index("ix_run_logs_at", "at"),
    )


class Alert(Base):
    """An alert: raised once per key while firing, resolved when it clears."""

    __tablename__ = "alerts"
    id: Mapped[uuid.UUID] = _pk()
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)  # slo.ALERT_LEVELS|info
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="firing")
    fired_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = _created()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_alerts_key_status", "key", "status"),)


class AuditRecord(Base):
    """Append-only, hash-chained record of who did (or tried) what."""

    __tablename__ = "audit_records"
    id: Mapped[uuid.UUID] = _pk()
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)  # a vocabulary.AuditOutcome
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # The record this one is the outcome of (applied, failed, expired), when it is one.
    request_seq: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_audit_records_request_seq", "request_seq"),)
