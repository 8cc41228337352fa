"""The run ledger's one writer, on SQLite and PostgreSQL: transactions per run, the term every
write of a run checks (its claim, its leader's epoch), and runs ended for their owner."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from app.models import (
    PipelineRun,
    QuarantinedRow,
    QuoteRow,
    SchedulerLease,
    SourceSnapshot,
    StageRun,
)
from app.pipelines import runner
from app.pipelines.context import PipelineContext, StageOutcome
from app.pipelines.ledger import (
    Interruption,
    RunOpening,
    StaleWriter,
    interrupt_runs,
    open_run,
    queue_run,
)

NOW = datetime(2026, 7, 4, 18, tzinfo=UTC)


class Commits:
    """Counts the engine's commits made by this thread: one per transaction of the run (the
    app's rollup keeper commits from its own thread whenever a run's writes wake it)."""

    def __init__(self) -> None:
        self.n = 0
        self.thread = threading.get_ident()

    def __call__(self, _conn: object) -> None:
        if threading.get_ident() == self.thread:
            self.n += 1


def _stages(monkeypatch: pytest.MonkeyPatch, stages: list) -> None:
    original = runner._stages
    monkeypatch.setattr(runner, "_stages", lambda: {**original(), "probe": stages})
    monkeypatch.setattr(runner, "PIPELINE_NAMES", (*runner.PIPELINE_NAMES, "probe"))


def _noop(src: runner.StageRunContext) -> StageOutcome:
    return StageOutcome(records_in=1, records_out=1)


def _fail(src: runner.StageRunContext) -> StageOutcome:
    raise RuntimeError("source down")


@pytest.fixture
def ctx(db) -> PipelineContext:
    return PipelineContext(sessions=db.sessionmaker, clock=lambda: NOW)


def test_a_three_stage_run_costs_stages_plus_one_transactions(db, ctx, monkeypatch) -> None:
    _stages(monkeypatch, [("one", _noop), ("two", _noop), ("three", _noop)])
    commits = Commits()
    event.listen(db.engine, "commit", commits)
    try:
        result = runner.run_pipeline(ctx, "probe", "manual")
    finally:
        event.remove(db.engine, "commit", commits)
    assert result.status == "succeeded"
    assert commits.n <= 3 + 2
    with db.session() as s:
        rows = s.scalars(select(StageRun).where(StageRun.run_id == result.run_id)).all()
        assert sorted((r.stage, r.status, r.records_out) for r in rows) == [
            ("one", "succeeded", 1),
            ("three", "succeeded", 1),
            ("two", "succeeded", 1),
        ]
        run = s.get(PipelineRun, result.run_id)
        assert run.status == "succeeded" and run.claim_token is None


def test_the_running_stage_is_visible_while_it_runs(db, ctx, monkeypatch) -> None:
    seen: list[tuple[str, str]] = []

    def look(src: runner.StageRunContext) -> StageOutcome:
        with db.session() as s:
            seen.extend(
                (r.stage, r.status)
                for r in s.scalars(select(StageRun).where(StageRun.run_id == src.run_id))
            )
            assert s.get(PipelineRun, src.run_id).status == "running"
        return StageOutcome()

    _stages(monkeypatch, [("one", _noop), ("two", look)])
    runner.run_pipeline(ctx, "probe", "manual")
    assert sorted(seen) == [("one", "succeeded"), ("two", "running")]


def test_skipped_stages_are_written_with_the_next_boundary(db, ctx, monkeypatch) -> None:
    monkeypatch.setattr(runner, "DEPENDS_ON", {"two": "one", "three": "two"})
    _stages(monkeypatch, [("one", _fail), ("two", _noop), ("three", _noop)])
    result = runner.run_pipeline(ctx, "probe", "manual")
    assert result.status == "failed"
    with db.session() as s:
        rows = {
            r.stage: r
            for r in s.scalars(select(StageRun).where(StageRun.run_id == result.run_id)).all()
        }
    assert rows["one"].status == "failed" and rows["one"].error_message == "source down"
    assert rows["two"].detail["reason"] == "upstream stage one failed"
    assert rows["three"].detail["reason"] == "upstream stage two skipped"


def _quarantine(src: runner.StageRunContext, note: str) -> None:
    with src.sessions.begin() as session:
        session.add(
            QuarantinedRow(source="probe", field="f", reason=note, payload={}, run_id=src.run_id)
        )


def test_a_run_whose_claim_was_ended_writes_no_data_and_stops(db, ctx, monkeypatch) -> None:
    def taken_over(src: runner.StageRunContext) -> StageOutcome:
        _quarantine(src, "before")
        interrupt_runs(
            db.sessionmaker, Interruption("WorkerLost", "declared lost"), NOW, ids=[src.run_id]
        )
        _quarantine(src, "after")  # the stale writer: must be rolled back whole
        return StageOutcome()

    _stages(monkeypatch, [("one", taken_over), ("two", _noop)])
    with pytest.raises(StaleWriter):
        runner.run_pipeline(ctx, "probe", "manual")
    with db.session() as s:
        notes = s.scalars(select(QuarantinedRow.reason).where(QuarantinedRow.source == "probe"))
        assert sorted(notes) == ["before"]
        run = s.scalars(select(PipelineRun).where(PipelineRun.pipeline == "probe")).one()
        assert (run.status, run.error_type) == ("interrupted", "WorkerLost")
        stages = s.scalars(select(StageRun).where(StageRun.run_id == run.id)).all()
        assert [(r.stage, r.status) for r in stages] == [("one", "interrupted")]


def test_a_run_whose_claim_ended_in_its_last_stage_does_not_end_it(db, ctx, monkeypatch) -> None:
    """The run's end is fenced by its claim too: the owner that took it keeps its ending."""

    def taken_over(src: runner.StageRunContext) -> StageOutcome:
        interrupt_runs(
            db.sessionmaker, Interruption("WorkerLost", "declared lost"), NOW, ids=[src.run_id]
        )
        return StageOutcome()

    _stages(monkeypatch, [("one", _noop), ("two", taken_over)])
    with pytest.raises(StaleWriter, match="claim"):
        runner.run_pipeline(ctx, "probe", "manual")
    with db.session() as s:
        run = s.scalars(select(PipelineRun).where(PipelineRun.pipeline == "probe")).one()
        assert (run.status, run.error_type, run.duration_ms) == ("interrupted", "WorkerLost", None)
        stages = s.scalars(select(StageRun).where(StageRun.run_id == run.id)).all()
        assert sorted((r.stage, r.status) for r in stages) == [
            ("one", "succeeded"),
            ("two", "interrupted"),
        ]


def _lease(db, epoch: int) -> None:
    with db.session() as s:
        row = s.get(SchedulerLease, "scheduler")
        if row is None:
            s.add(SchedulerLease(name="scheduler", holder="a", epoch=epoch))
        else:
            row.epoch = epoch


def test_a_run_of_a_replaced_leader_is_fenced_at_its_next_write(db, ctx, monkeypatch) -> None:
    _lease(db, 4)

    def replaced(src: runner.StageRunContext) -> StageOutcome:
        _lease(db, 5)  # a new leader took over while this stage ran
        _quarantine(src, "stale")
        return StageOutcome()

    _stages(monkeypatch, [("one", replaced)])
    with pytest.raises(StaleWriter, match="epoch 4"):
        runner.run_pipeline(ctx, "probe", "schedule", scheduled_for=NOW, leader_epoch=4)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(QuarantinedRow)) == 0
        run = s.scalars(select(PipelineRun).where(PipelineRun.pipeline == "probe")).one()
        assert run.status == "running" and run.leader_epoch == 4  # left for the new leader
    gone = interrupt_runs(
        db.sessionmaker, Interruption("LeaderLost", "epoch 4 over"), NOW, leader_epoch_below=5
    )
    assert gone == [run.id]


def test_a_leader_replaced_before_the_run_opened_writes_no_run(db, ctx, monkeypatch) -> None:
    _lease(db, 7)
    _stages(monkeypatch, [("one", _noop)])
    with pytest.raises(StaleWriter):
        runner.run_pipeline(ctx, "probe", "schedule", scheduled_for=NOW, leader_epoch=6)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PipelineRun)) == 0


def _scheduled(db, pipeline: str, first_stage: str):
    """An open scheduled run of `pipeline`, its first stage running, on the frozen clock."""
    return open_run(
        db.sessionmaker,
        RunOpening(pipeline, "schedule"),
        NOW,
        first_stage=first_stage,
        clock=lambda: NOW,
    )


def test_lapsed_heartbeats_are_interrupted_and_fresh_ones_kept(db) -> None:
    stale = _scheduled(db, "collection", "collect")
    fresh = _scheduled(db, "grading", "grade")
    later = NOW + timedelta(seconds=40)
    assert fresh.heartbeat(later)
    gone = interrupt_runs(
        db.sessionmaker,
        Interruption("HeartbeatLost", "no heartbeat for 30 s"),
        later,
        heartbeat_before=later - timedelta(seconds=30),
    )
    assert gone == [stale.run_id]
    assert not stale.heartbeat(later)  # its owner learns it lost the run
    stale.close()
    fresh.close()


def test_a_queued_run_is_claimed_once(db, ctx, monkeypatch) -> None:
    _stages(monkeypatch, [("one", _noop)])
    run_id = uuid.uuid4()
    queue_run(db.sessionmaker, RunOpening("probe", "manual", run_id=run_id), NOW)
    result = runner.run_pipeline(ctx, "probe", "manual", run_id=run_id, queued=True)
    assert result.status == "succeeded"
    with pytest.raises(StaleWriter, match="not there to claim"):
        runner.run_pipeline(ctx, "probe", "manual", run_id=run_id, queued=True)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(StageRun)) == 1


def _snapshot_with_quote(db, run_id: uuid.UUID, tag: str) -> None:
    with db.sessionmaker.begin() as s:
        snap = SourceSnapshot(
            source="demo", content_hash=f"hash-{tag}", fetched_at=NOW, quotes=1, run_id=run_id
        )
        s.add(snap)
        s.flush()
        s.add(
            QuoteRow(
                snapshot_id=snap.id,
                source="demo",
                game_key=f"2026-07-04-NYY@BOS-{tag}",
                market="h2h",
                side="home",
                book="fanduel",
                price=-120,
                last_update=NOW,
                collected_at=NOW,
            )
        )
        s.add(QuarantinedRow(source="demo", field="price", reason="bad", run_id=run_id, payload={}))


def _data(db, run_id: uuid.UUID) -> tuple[int, int, int]:
    with db.session() as s:
        snaps = select(SourceSnapshot.id).where(SourceSnapshot.run_id == run_id)
        return (
            s.scalar(
                select(func.count())
                .select_from(SourceSnapshot)
                .where(SourceSnapshot.run_id == run_id)
            ),
            s.scalar(
                select(func.count()).select_from(QuoteRow).where(QuoteRow.snapshot_id.in_(snaps))
            ),
            s.scalar(
                select(func.count())
                .select_from(QuarantinedRow)
                .where(QuarantinedRow.run_id == run_id)
            ),
        )


def test_an_interrupted_attempt_leaves_no_data_for_its_retry_to_double(db) -> None:
    """A stage's data commits before its stage row closes: an attempt that loses its executor
    between the two has data on record. Interrupting it discards that data (its retry collects
    the tick once more), so the tick's data has one writer; what the feed sent wrong stays
    quarantined, and a failed run keeps what it wrote."""
    lost = _scheduled(db, "collection", "collect")
    kept = _scheduled(db, "grading", "grade")
    _snapshot_with_quote(db, lost.run_id, "lost")
    _snapshot_with_quote(db, kept.run_id, "kept")
    assert _data(db, lost.run_id) == (1, 1, 1)
    gone = interrupt_runs(
        db.sessionmaker, Interruption("LeaderLost", "epoch over"), NOW, ids=[lost.run_id]
    )
    assert gone == [lost.run_id]
    assert _data(db, lost.run_id) == (0, 0, 1)
    failed = interrupt_runs(
        db.sessionmaker,
        Interruption("Shutdown", "stopped"),
        NOW,
        ids=[kept.run_id],
        status="failed",
    )
    assert failed == [kept.run_id] and _data(db, kept.run_id) == (1, 1, 1)
    lost.close()
    kept.close()
