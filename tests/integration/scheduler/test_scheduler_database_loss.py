"""The main database stops mid-run and comes back: the leader schedules into its local outbox
meanwhile, replays it on recovery, and the ledger ends up complete without duplicates."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pg_scheduler import HostBundle, assert_exactly_once, runs, seed, wait_for
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


def _newest_tick(sessions) -> datetime:
    """The newest scheduled collection tick on record (a run in flight when the database went
    away is retried by a command after the replay: a run with no tick of its own)."""
    return max(r.scheduled_for for r in runs(sessions, "collection") if r.scheduled_for)


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
        windows = [[datetime.now(UTC)]]  # switch-overs: from the stop to the outbox...
        throwaway_pg.stop("fast")  # mid-run: a tick runs every second
        wait_for(lambda: bundle.host.local is not None, 60)
        windows[-1].append(datetime.now(UTC))
        outbox = bundle.host.local.path
        wait_for(lambda: len(_outbox_runs(outbox)) >= 4, 15)
        assert bundle.host.status()["mode"] == "local outbox"
        outage = _outbox_runs(outbox)  # the replay deletes the file: what it held by now
        windows.append([datetime.now(UTC)])  # ...and from the restart to leading again
        throwaway_pg.start()
        wait_for(lambda: bundle.host.local is None and bundle.host.leading(), 60)
        windows[-1].append(datetime.now(UTC))
        assert not outbox.exists() and not list(tmp_path.glob("outbox-*"))  # replayed, deleted
        latest = _newest_tick(sessions)
        wait_for(lambda: _newest_tick(sessions) > latest, 10)  # ticking in the main database
    finally:
        bundle.stop()
    ledger = runs(sessions, None)
    ids = {r.id for r in ledger}
    # by families (a replayed double keeps its execution attached to the tick's run): one
    # execution per tick, nothing stuck, every interrupted tick retried or superseded
    assert_exactly_once(sessions, until=_newest_tick(sessions) - timedelta(seconds=2))
    assert outage and outage <= ids  # nothing lost
    ticks = Counter(
        r.scheduled_for for r in ledger if r.pipeline == "collection" and r.trigger == "schedule"
    )
    assert max(ticks.values()) == 1  # nothing doubled
    ordered = sorted(ticks)
    every = {
        ordered[0] + timedelta(seconds=i)
        for i in range(int((ordered[-1] - ordered[0]).total_seconds()) + 1)
    }
    # a tick may go unrecorded only while the host is switching (the database just went away
    # and is not yet known lost, or is back and not yet led again); none outside those windows
    slack = timedelta(seconds=1)
    outside = [
        t
        for t in sorted(every - set(ordered))
        if not any(start - slack <= t <= end + slack for start, end in windows)
    ]
    assert not outside, f"ticks missing outside the switch-overs: {outside}"
    assert not [r for r in ledger if r.status == "running"]
    with sessions() as s:
        stage_rows = s.execute(
            select(StageRun.run_id, StageRun.status, StageRun.detail).where(
                StageRun.run_id.in_(outage)
            )
        ).all()
        stages: dict[Any, list[tuple[str, Any]]] = {}
        for run_id, stage_status, detail in stage_rows:
            stages.setdefault(run_id, []).append((stage_status, (detail or {}).get("reason")))
        status = {
            r.id: (r.status, (r.summary or {}).get("reason")) for r in ledger if r.id in outage
        }
        # each replayed run that ran brought its stage rows ...
        ran = {i for i, (st, _) in status.items() if st != "skipped"}
        assert ran <= set(stages), {i: status[i] for i in ran - set(stages)}
        # ... a tick skipped while the one before still ran (a loaded machine) has none and says
        # why; a run whose stages skipped themselves (analysis with no fresh source) has them,
        # each skipped with its reason
        for run_id in {i for i, (st, _) in status.items() if st == "skipped"}:
            if run_id in stages:
                assert all(st == "skipped" and why for st, why in stages[run_id]), stages[run_id]
            else:
                assert status[run_id][1], status[run_id]
        alert = s.scalars(select(Alert).where(Alert.key == DATABASE_LOST)).one()
        assert alert.status == "resolved"
    main.dispose()
