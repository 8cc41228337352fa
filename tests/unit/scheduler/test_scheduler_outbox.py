"""Outbox replay: every row once, a tick that ran elsewhere dropped with its children."""

from __future__ import annotations

import shutil
import uuid

from scheduler_fakes import START
from sqlalchemy import func, select

from app.db import Database
from app.models import PipelineRun, StageRun
from scheduler.outbox import leftover_outboxes, outbox_path, replay_file, replay_outbox


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


def test_replay_is_idempotent_and_never_doubles_a_tick(_template_db, tmp_path, database) -> None:
    shutil.copy(_template_db, tmp_path / "outbox.sqlite3")
    outbox = Database(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    main = database.sessionmaker
    already = _run(main, START)  # this tick ran on the main database before the loss
    _run(outbox.sessionmaker, START)  # ...and again locally: must not be doubled
    kept = _run(outbox.sessionmaker, START.replace(minute=1))
    first = replay_outbox(outbox.engine, database.engine)
    assert first.copied["pipeline_runs"] == 1 and first.skipped["pipeline_runs"] == 1
    assert first.copied["stage_runs"] == 1 and first.skipped["stage_runs"] == 1
    again = replay_outbox(outbox.engine, database.engine)
    assert sum(again.copied.values()) == 0
    with main() as s:
        ticks = s.scalars(select(PipelineRun.id).order_by(PipelineRun.scheduled_for)).all()
    assert ticks == [already, kept] and _count(main, StageRun) == 2
    outbox.dispose()


def test_replayed_files_are_set_aside_and_leftovers_found(_template_db, tmp_path, database):
    own = outbox_path(tmp_path, "vm:12:ab")
    old = outbox_path(tmp_path, "vm:11:cd")
    assert own.name == "outbox-vm_12_ab.sqlite3"
    for path in (own, old):
        shutil.copy(_template_db, path)
    assert leftover_outboxes(tmp_path, own, quiet_s=-10) == [old]
    replay_file(old, database.engine)
    assert not old.exists() and len(list(tmp_path.glob("outbox-vm_11_cd.*.replayed.sqlite3")))
    assert leftover_outboxes(tmp_path, own, quiet_s=-10) == []
