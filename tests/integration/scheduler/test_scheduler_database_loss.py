"""The main database stops mid-run and comes back: the leader schedules into its local outbox
meanwhile, replays it on recovery, and the ledger ends up complete without duplicates."""

from __future__ import annotations

from collections import Counter

import pytest
from pg_scheduler import HostBundle, runs, seed, wait_for
from sqlalchemy import create_engine, select

from app.db import Database
from app.models import Alert, PipelineRun, StageRun
from scheduler.alerts import DATABASE_LOST
from scheduler.schedule import JobSpec

pytestmark = pytest.mark.postgres


def _outbox_runs(path) -> set:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        ids = {row[0] for row in conn.execute(select(PipelineRun.id))}
    engine.dispose()
    return ids


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_outbox_carries_the_ledger_through_a_database_outage(throwaway_pg, tmp_path) -> None:
    main = Database(throwaway_pg.url)
    sessions = main.sessionmaker
    seed(
        sessions,
        JobSpec("collection", "collection", 1, "critical"),
        JobSpec("analysis", "analysis", 0),
    )
    bundle = HostBundle(throwaway_pg.url, tmp_path, "host-a", outbox_replay_s=0.5)
    try:
        bundle.host.start()
        wait_for(lambda: len(runs(sessions, "collection")) >= 3, 20)
        main.dispose()
        throwaway_pg.stop("fast")  # mid-run: a tick runs every second
        wait_for(lambda: bundle.host.local is not None, 15)
        outbox = bundle.host.local.path
        wait_for(lambda: len(_outbox_runs(outbox)) >= 4, 15)
        assert bundle.host.status()["mode"] == "local outbox"
        outage = _outbox_runs(outbox)  # the replay deletes the file: what it held by now
        throwaway_pg.start()
        wait_for(lambda: bundle.host.local is None and bundle.host.leading(), 30)
        assert not outbox.exists() and not list(tmp_path.glob("outbox-*"))  # replayed, deleted
        wait_for(lambda: len(runs(sessions, "collection")) >= 3, 10)
        latest = runs(sessions, "collection")[-1].scheduled_for
        wait_for(lambda: runs(sessions, "collection")[-1].scheduled_for > latest, 10)
    finally:
        bundle.stop()
    ledger = runs(sessions, None)
    ids = {r.id for r in ledger}
    assert outage and outage <= ids  # nothing lost
    ticks = Counter(
        r.scheduled_for for r in ledger if r.pipeline == "collection" and r.trigger == "schedule"
    )
    assert max(ticks.values()) == 1  # nothing doubled
    ordered = sorted(ticks)
    span = int((ordered[-1] - ordered[0]).total_seconds()) + 1
    assert span - len(ordered) <= 2, f"{span - len(ordered)} ticks missing"  # switch-overs only
    assert not [r for r in ledger if r.status == "running"]
    with sessions() as s:
        stages = s.scalars(select(StageRun.run_id).where(StageRun.run_id.in_(outage))).all()
        assert set(stages) == outage  # each replayed run brought its stage rows
        alert = s.scalars(select(Alert).where(Alert.key == DATABASE_LOST)).one()
        assert alert.status == "resolved"
    main.dispose()
