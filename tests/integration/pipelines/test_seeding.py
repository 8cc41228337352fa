"""`dugout demo seed`'s replay: the same history whether or not a server has already collected,
and a second seed over the same hours adds nothing (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from app.config import load_settings
from app.db import Base
from app.models import Game as GameRow
from app.models import (
    Grade,
    OpportunityRow,
    PipelineRun,
    QuoteRow,
    Recommendation,
    SourceSnapshot,
    SourceState,
    SplitRow,
    StageRun,
)
from app.pipelines.build import build_context
from app.pipelines.runner import run_pipeline
from app.pipelines.seeding import ReplayClock, seed_history, seed_ticks
from app.vocabulary import Pipeline, Trigger

END = datetime(2026, 12, 1, 7, 0, 20, tzinfo=UTC)  # December, 07:00 UTC: the hour
HOURS = 1.0
LIVE_MINUTES = 3  # the server collected this long before the seed started


def _settings():
    return load_settings({"testing": True, "source": "demo", "demo_hours": "rolling"})


def _opportunities(db, trigger: str | None = None) -> dict[str, datetime]:
    """Fingerprint -> detected_at, of every stored opportunity (or those of one trigger)."""
    query = select(OpportunityRow.fingerprint, OpportunityRow.detected_at).join(
        PipelineRun, PipelineRun.id == OpportunityRow.run_id
    )
    if trigger is not None:
        query = query.where(PipelineRun.trigger == trigger)
    with db.session() as s:
        return {f: at for f, at in s.execute(query)}


def _wipe(db) -> None:
    with db.session() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))
        s.commit()


def _server_collects(db, settings, since: datetime, until: datetime) -> None:
    """What a live server does first: a full run every minute, on the minute."""
    clock = ReplayClock(since)
    pctx = build_context(settings, db.sessionmaker, clock=clock)
    for tick in seed_ticks(since, until, 60):
        clock.now = tick
        run_pipeline(pctx, Pipeline.FULL, Trigger.SCHEDULE, scheduled_for=tick)


def test_a_seed_beside_a_server_that_collected_stores_the_same_history(db) -> None:
    settings = _settings()
    alone = seed_history(settings, db.sessionmaker, end=END, hours=HOURS)
    assert (alone.start, alone.stop) == (END - timedelta(hours=HOURS), END)
    assert alone.runs == len(seed_ticks(alone.start, END, 60)) and alone.opportunities > 0
    live_from = seed_ticks(END - timedelta(minutes=LIVE_MINUTES), END, 60)[0]
    before_live = {f for f, at in _opportunities(db).items() if at < live_from}
    assert before_live

    _wipe(db)
    _server_collects(db, settings, live_from, END)
    with db.session() as s:
        live_state = s.get(SourceState, "demo")
        assert live_state is not None
        live_success = live_state.last_success_at
        finals = set(s.scalars(select(GameRow.game_key).where(GameRow.status == "final")))
    assert finals  # the server's first fetch saw the games that ended before it started

    beside = seed_history(settings, db.sessionmaker, end=END, hours=HOURS)

    assert beside.stop == live_from  # it fills the hours before the server's own history
    assert beside.runs == len(seed_ticks(beside.start, live_from, 60))
    seeded = set(_opportunities(db, Trigger.SEED.value))
    assert seeded and seeded <= before_live  # nothing the empty database's seed did not find
    assert before_live <= set(_opportunities(db))  # and nothing lost (the server found some)
    with db.session() as s:
        state = s.get(SourceState, "demo")
        assert state is not None and state.last_success_at == live_success  # not moved back
        still = set(s.scalars(select(GameRow.game_key).where(GameRow.status == "final")))
    assert finals <= still  # the server's results are not replayed backwards


def test_a_second_seed_over_the_same_hours_adds_nothing(db) -> None:
    settings = _settings()
    first = seed_history(settings, db.sessionmaker, end=END, hours=0.25)
    again = seed_history(settings, db.sessionmaker, end=END + timedelta(seconds=30), hours=0.25)
    assert first.runs > 0
    assert (again.runs, again.opportunities) == (0, 0)


def _stored(db) -> list[tuple]:
    """Every stored opportunity as what it claims: fingerprint, times, EV, stake, wording."""
    with db.session() as s:
        return sorted(
            (
                o.fingerprint,
                o.detected_at,
                o.data_available_at,
                o.ev,
                o.kelly_fraction,
                o.strategy,
                o.explanation,
            )
            for o in s.scalars(select(OpportunityRow))
        )


def _history(db) -> dict[str, list[tuple]]:
    """Everything a replay stores but ids and timings: runs, stages, snapshots, market data,
    bets and grades (rows that point at others name them by what they are)."""
    r, st, sn = PipelineRun, StageRun, SourceSnapshot
    with db.session() as s:
        tick = {i: t for i, t in s.execute(select(r.id, r.scheduled_for))}
        bet = {i: k for i, k in s.execute(select(Recommendation.id, Recommendation.bet_key))}
        queries = {
            "runs": select(r.scheduled_for, r.trigger, r.status, r.summary, r.error_message),
            "stages": select(
                st.run_id,
                st.stage,
                st.status,
                st.started_at,
                st.finished_at,
                st.records_in,
                st.records_out,
                st.error_message,
                st.detail,
            ),
            "snapshots": select(
                sn.run_id,
                sn.content_hash,
                sn.fetched_at,
                sn.newest_update_at,
                sn.quotes,
                sn.splits,
                sn.quarantined,
            ),
            "quotes": select(
                *(c for c in QuoteRow.__table__.c if c.name not in {"id", "snapshot_id"})
            ),
            "splits": select(
                *(c for c in SplitRow.__table__.c if c.name not in {"id", "snapshot_id"})
            ),
            "games": select(*(c for c in GameRow.__table__.c if c.name != "id")),
            "bets": select(
                *(c for c in Recommendation.__table__.c if c.name not in {"id", "opportunity_id"})
            ),
            "grades": select(
                *(c for c in Grade.__table__.c if c.name not in {"id", "recommendation_id"}),
                Grade.recommendation_id,
            ),
            "states": select(SourceState),
        }
        out = {}
        for name, query in queries.items():
            rows = [tuple(row) for row in s.execute(query)]
            if name in {"stages", "snapshots"}:
                rows = [(tick.get(row[0]), *row[1:]) for row in rows]
            if name == "grades":
                rows = [(*row[:-1], bet[row[-1]]) for row in rows]
            if name == "states":
                rows = [
                    (x.newest_update_at, x.newest_quote_at, x.newest_split_at, x.last_fetch_at)
                    for x in s.scalars(select(SourceState))
                ]
            out[name] = sorted(rows, key=repr)
    return out


def test_the_fast_replay_stores_what_plain_runs_store(db) -> None:
    """The seed's shortcuts (analysis carried across ticks, quote and split windows kept from
    what it stores) change nothing stored: the same history as runs that read the database and
    analyse every market at every tick."""
    settings = _settings()
    full = seed_history(settings, db.sessionmaker, end=END, hours=HOURS, incremental=False)
    recomputed, plain = _stored(db), _history(db)
    _wipe(db)
    incremental = seed_history(settings, db.sessionmaker, end=END, hours=HOURS)

    assert full.markets_reused == 0 and incremental.markets_reused > 0  # it did carry results
    assert (incremental.runs, incremental.opportunities) == (full.runs, full.opportunities)
    assert recomputed and _stored(db) == recomputed
    fast = _history(db)
    assert plain["quotes"] and plain["splits"] and plain["stages"]
    for table, rows in plain.items():
        assert fast[table] == rows, table
