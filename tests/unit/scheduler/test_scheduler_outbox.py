"""Outbox replay: every row once, every execution on record, hand-over by the writer's lock."""

from __future__ import annotations

import shutil
import uuid

from scheduler_fakes import START
from sqlalchemy import func, select

from app.db import Database
from app.models import PipelineRun, StageRun
from scheduler.outbox import (
    leftover_outboxes,
    outbox_path,
    outboxes_in_use,
    release_lock,
    replay_file,
    replay_outbox,
    take_lock,
)
from scheduler.tally import tally_ticks


def _run(sessions, tick, status="succeeded"):
    run_id = uuid.uuid4()
    with sessions.begin() as s:
        s.add(
            PipelineRun(
                id=run_id,
                pipeline="collection",
                trigger="schedule",
                scheduled_for=tick,
                status=status,
                correlation_id="c",
                created_at=START,
            )
        )
        s.add(StageRun(run_id=run_id, stage="collect", status=status, started_at=START))
    return run_id


def _count(sessions, model) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_replay_is_idempotent_keeps_ticks_unique_and_records_every_execution(
    _template_db, tmp_path, database
) -> None:
    shutil.copy(_template_db, tmp_path / "outbox.sqlite3")
    outbox = Database(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    main = database.sessionmaker
    already = _run(main, START)  # this tick ran on the main database before the loss
    doubled = _run(outbox.sessionmaker, START)  # ...and again locally: on record, not a tick
    kept = _run(outbox.sessionmaker, START.replace(minute=1))
    first = replay_outbox(outbox.engine, database.engine)
    assert first.copied["pipeline_runs"] == 2 and first.skipped["pipeline_runs"] == 0
    assert first.copied["stage_runs"] == 2 and first.doubled_ticks == 1
    again = replay_outbox(outbox.engine, database.engine)
    assert sum(again.copied.values()) == 0  # idempotent by run id
    with main() as s:
        ticks = s.scalars(
            select(PipelineRun.id)
            .where(PipelineRun.scheduled_for.is_not(None))
            .order_by(PipelineRun.scheduled_for)
        ).all()
        extra = s.get(PipelineRun, doubled)
    assert ticks == [already, kept] and _count(main, StageRun) == 3
    assert extra.scheduled_for is None and str(already) in extra.summary["replayed"]
    assert extra.parent_run_id == already  # the tick's family: the tally sees two executions
    with main() as s:
        tick = next(t for t in tally_ticks(s) if t.tick == START.replace(tzinfo=t.tick.tzinfo))
    assert already in tick.runs and doubled in tick.runs
    outbox.dispose()


def test_replay_waits_for_the_writers_lock_then_deletes_the_file(_template_db, tmp_path, database):
    own = outbox_path(tmp_path, "vm:12:ab")
    old = outbox_path(tmp_path, "vm:11:cd")
    assert own.name == "outbox-vm_12_ab.sqlite3"
    for path in (own, old):
        shutil.copy(_template_db, path)
    assert leftover_outboxes(tmp_path, own) == [old]
    writer = take_lock(old)  # its writer is still there (mtime says nothing)
    assert replay_file(old, database.engine) is None and old.exists()
    assert outboxes_in_use(tmp_path, own) == [old]
    release_lock(writer)
    assert replay_file(old, database.engine) is not None
    assert not old.exists() and not list(tmp_path.glob("outbox-vm_11_cd*"))
    assert leftover_outboxes(tmp_path, own) == [] and outboxes_in_use(tmp_path, own) == []
