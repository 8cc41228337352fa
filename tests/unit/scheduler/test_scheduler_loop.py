"""The APScheduler loop survives a due job that another host removed from the shared job store
between the loop's read and its own removal (a former leader dropping an order): the loop goes
on and runs what comes next, instead of its thread dying for the watchdog to restart."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from apscheduler.jobstores.memory import MemoryJobStore

from scheduler.service import WatchedScheduler


class _RemovedByAnotherHost(MemoryJobStore):
    """Hands out the due jobs and then loses them, as a store another host removed them from."""

    def get_due_jobs(self, now):
        due = super().get_due_jobs(now)
        for job in due:
            if job.id.startswith("order:"):
                self.remove_job(job.id)
        return due


def test_a_job_gone_from_the_store_does_not_kill_the_loop() -> None:
    ran = {"order": threading.Event(), "after": threading.Event()}
    scheduler = WatchedScheduler(
        0.05, time.monotonic, jobstores={"default": _RemovedByAnotherHost()}, timezone=UTC
    )
    scheduler.start()
    try:
        scheduler.add_job(ran["order"].set, "date", run_date=datetime.now(UTC), id="order:x")
        assert ran["order"].wait(10), "the order never ran"
        scheduler.add_job(ran["after"].set, "date", run_date=datetime.now(UTC), id="next")
        assert ran["after"].wait(10), "the loop stopped after the job it could not remove"
        assert scheduler.loop_thread_alive()
    finally:
        scheduler.shutdown(wait=False)
