"""Liveness of runs: the leader declares lost the runs whose claim lapsed and retries every
interrupted run nobody else retries, unless a newer tick of its job already succeeded.

A run's executor renews its claim (app/pipelines/ledger.py HEARTBEATS); a claim older than
`run_lost_after_s` means its process died or froze. Such runs, and the runs of a leader whose
epoch is over, are marked interrupted with the reason, then retried as attempt n+1 with the
parent link through a `run_now` command (the one retry path for orphans). Runs this leader's
own dispatcher is waiting for are retried by that dispatcher instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.errors import LockNotAvailable
from sqlalchemy import exists, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.models import PipelineRun, SchedulerCommand
from app.pipelines.ledger import Interruption, interrupt_runs, lapsed_before
from app.vocabulary import TICK_TRIGGERS
from scheduler.ticks import tick_of

log = logging.getLogger("dugout.scheduler.recovery")
LOOKBACK_S = 3600.0  # interrupted runs older than this are history, not work
LOCK_WAIT_S = 2.0  # a round waits this long for a run row's lock, then tries next round


@dataclass(frozen=True, slots=True)
class Orphan:
    """An interrupted run to retry: its row, and the tick it belongs to (None: not a tick)."""

    run_id: uuid.UUID
    pipeline: str
    attempt: int
    tick: datetime | None
    trigger: str
    params: dict[str, object]


def requeue_orphan(sessions: sessionmaker[Session], orphan: Orphan, actor: str) -> uuid.UUID:
    """Ask the leader (a `run_now` command) to retry `orphan` as its next attempt."""
    from scheduler.commands import write_command
    from scheduler.control import KillSwitch

    log.warning(
        "interrupted run re-queued",
        extra={
            "run_id": str(orphan.run_id),
            "tick": orphan.tick.isoformat() if orphan.tick else None,
        },
    )
    return write_command(
        sessions,
        "run_now",
        orphan.pipeline,
        actor=actor[:64],
        reason=f"retry interrupted run {orphan.run_id}",
        params={
            "requeue_of": str(orphan.run_id),
            "params": orphan.params,
            "priority": "critical" if orphan.pipeline == "collection" else "default",
            "role": "system",
        },
        kill_switch=KillSwitch(sessions),
    )


class RunRecovery:
    """The leader's liveness round: declare lost runs, then retry the orphans."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        own_actor: str,
        lost_after_s: float,
        clock: Callable[[], datetime],
        requeue: Callable[[Orphan], object],
    ) -> None:
        self.sessions = sessions
        self.own_actor = own_actor
        self.lost_after_s = lost_after_s
        self.clock = clock
        self.requeue = requeue

    def declare_lost(self, epoch: int | None) -> list[uuid.UUID]:
        """Interrupt runs fenced by an older leader epoch and runs whose claim lapsed; a run
        row locked by a writer that froze mid-write is left for the next round."""
        now = self.clock()
        lost: list[uuid.UUID] = []
        try:
            if epoch is not None:
                lost += interrupt_runs(
                    self.sessions,
                    Interruption(
                        "LeaderLost", f"its scheduler leader's term ended (epoch < {epoch})"
                    ),
                    now,
                    leader_epoch_below=epoch,
                    lock_timeout_s=LOCK_WAIT_S,
                )
            lost += interrupt_runs(
                self.sessions,
                Interruption(
                    "RunLost",
                    f"its executor stopped renewing its claim for {self.lost_after_s:.0f} s",
                ),
                now,
                heartbeat_before=lapsed_before(now, self.lost_after_s),
                lock_timeout_s=LOCK_WAIT_S,
            )
        except OperationalError as exc:
            if not isinstance(exc.orig, LockNotAvailable):
                raise
            log.warning("a run row is locked by a frozen writer; lost runs declared next round")
        if lost:
            log.warning("runs declared lost", extra={"runs": [str(i) for i in lost]})
        return lost

    def orphans(self) -> list[Orphan]:
        """Interrupted runs of the last hour that no attempt retries yet and no requeue command
        names, excluding those this leader's dispatcher is waiting for."""
        return self._orphans(or_(PipelineRun.actor != self.own_actor, PipelineRun.actor.is_(None)))

    def orphans_among(self, ids: list[uuid.UUID]) -> list[Orphan]:
        """The runs `ids` (interrupted just now by this host) that still need a retry."""
        return self._orphans(PipelineRun.id.in_(ids)) if ids else []

    def _orphans(self, which: Any) -> list[Orphan]:
        child = aliased(PipelineRun)
        since = self.clock() - timedelta(seconds=LOOKBACK_S)
        with self.sessions() as session:
            rows = session.scalars(
                select(PipelineRun)
                .where(
                    PipelineRun.status == "interrupted",
                    PipelineRun.created_at >= since,
                    which,
                    ~exists().where(child.parent_run_id == PipelineRun.id),
                )
                .order_by(PipelineRun.created_at)
                .limit(50)
            ).all()
            asked = self._requeued(session, since)
            found = []
            for row in rows:
                if str(row.id) in asked:
                    continue
                tick = tick_of(session, row) if row.trigger in TICK_TRIGGERS else None
                found.append(
                    Orphan(row.id, row.pipeline, row.attempt, tick, row.trigger, dict(row.params))
                )
        return found

    def _requeued(self, session: Session, since: datetime) -> set[str]:
        params = session.scalars(
            select(SchedulerCommand.params).where(
                SchedulerCommand.command == "run_now", SchedulerCommand.created_at >= since
            )
        ).all()
        return {str(p.get("requeue_of")) for p in params if p and p.get("requeue_of")}

    def round(self, epoch: int | None) -> int:
        """Declare lost runs, then hand every orphan to `requeue`; returns how many."""
        self.declare_lost(epoch)
        orphans = self.orphans()
        for orphan in orphans:
            self.requeue(orphan)
        return len(orphans)
