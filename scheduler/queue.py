"""The database job queue: the scheduler's backup path, claimed by `dugout worker` processes.

PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so each queued run is claimed by exactly one
worker. SQLite has no row locks: the claim runs under an exclusive flock on a file in var_dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import QueuedJob
from app.pipelines.runner import DuplicateTick
from scheduler.dispatch import Dispatcher, DispatchOrder
from scheduler.executors import TaskExecutor

log = logging.getLogger("dugout.scheduler.queue")
CLAIM_BATCH = 20
CRITICAL_PRIORITY = 10


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A queued run this worker now owns."""

    id: uuid.UUID
    pipeline: str
    params: dict[str, Any]


class DbQueue:
    """Enqueue, claim once, finish."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        lock_dir: Path | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.lock_path = (lock_dir / "job_queue.lock") if lock_dir is not None else None
        self.clock = clock

    def enqueue(self, pipeline: str, params: dict[str, Any], priority: int = 0) -> uuid.UUID:
        """Add a run to the queue; returns its queue id."""
        job = QueuedJob(
            id=uuid.uuid4(),
            pipeline=pipeline,
            params=params,
            priority=priority,
            status="queued",
            enqueued_at=self.clock(),
        )
        with self.sessions.begin() as session:
            session.add(job)
        return job.id

    def enqueue_order(self, order: DispatchOrder, not_before: datetime) -> uuid.UUID:
        """Queue a scheduler order to run no earlier than `not_before`."""
        priority = CRITICAL_PRIORITY if order.priority == "critical" else 0
        params = {"order": order.to_dict(), "not_before": not_before.isoformat()}
        return self.enqueue(order.pipeline, params, priority)

    def claim(self, worker: str) -> ClaimedJob | None:
        """Take the most urgent due run, or None; no two workers ever get the same one."""
        with self._claim_lock(), self.sessions.begin() as session:
            rows = session.scalars(
                select(QueuedJob)
                .where(QueuedJob.status == "queued")
                .order_by(QueuedJob.priority.desc(), QueuedJob.enqueued_at)
                .limit(CLAIM_BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            now = self.clock()
            for row in rows:
                not_before = row.params.get("not_before")
                if not_before and datetime.fromisoformat(not_before) > now:
                    continue
                row.status, row.claimed_at, row.claimed_by = "claimed", now, worker[:128]
                return ClaimedJob(row.id, row.pipeline, dict(row.params))
        return None

    def finish(self, job_id: uuid.UUID, status: str, run_id: uuid.UUID | None = None) -> None:
        """Record how a claimed run ended (done, failed, skipped, duplicate...)."""
        with self.sessions.begin() as session:
            row = session.get(QueuedJob, job_id)
            if row is not None:
                row.status, row.finished_at = status[:16], self.clock()
                if run_id is not None:
                    row.run_id = run_id

    def depth(self) -> int:
        """Runs waiting to be claimed."""
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(QueuedJob).where(QueuedJob.status == "queued")
                )
                or 0
            )

    @contextlib.contextmanager
    def _claim_lock(self) -> Iterator[None]:
        if self.lock_path is None:
            yield
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class QueueWorker:
    """Claims queued runs one at a time and runs them: orders through the dispatcher (so every
    guard applies), break-glass runs straight through the executor."""

    def __init__(
        self,
        queue: DbQueue,
        executor: TaskExecutor,
        dispatcher: Dispatcher | None,
        *,
        name: str,
        poll_s: float = 0.5,
    ) -> None:
        self.queue = queue
        self.executor = executor
        self.dispatcher = dispatcher
        self.name = name
        self.poll_s = poll_s

    def run_once(self) -> bool:
        """Claim and run one job; False when nothing was due."""
        job = self.queue.claim(self.name)
        if job is None:
            return False
        status, run_id = "failed", None
        try:
            status, run_id = self._run(job)
        except DuplicateTick:
            status = "duplicate"
        except Exception:
            log.exception("queued run failed", extra={"queue_id": str(job.id)})
        finally:
            self.queue.finish(job.id, status, run_id)
        return True

    def run_until(self, stop: threading.Event) -> None:
        """Work until `stop` is set, polling every `poll_s` when the queue is empty."""
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:  # the database is down: keep polling, say so once per failure
                log.exception("queue poll failed")
            stop.wait(self.poll_s)

    def _run(self, job: ClaimedJob) -> tuple[str, uuid.UUID | None]:
        if "order" in job.params:
            if self.dispatcher is None:
                raise RuntimeError("a scheduler order needs a dispatcher")
            outcome = self.dispatcher.dispatch(DispatchOrder.from_dict(job.params["order"]))
            return ("done" if outcome.action == "ran" else outcome.action), outcome.run_id
        run_id = job.params.get("run_id")
        result = self.executor.execute_pipeline(
            job.pipeline,
            trigger=job.params.get("trigger", "queue"),
            actor=job.params.get("actor"),
            params=job.params.get("params") or {},
            run_id=uuid.UUID(run_id) if run_id else None,
            priority=job.params.get("priority", "default"),
        )
        return ("done" if result.status != "failed" else "failed"), result.run_id
