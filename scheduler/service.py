"""The APScheduler side: a BackgroundScheduler the leader starts, with its jobs declared in code.

SQLAlchemyJobStore on the configured database (table `scheduled_jobs`, pool_pre_ping),
executors `default` (4 threads) and `critical` (2 threads), coalesce, max_instances=1,
misfire_grace_time=30, intervals anchored to a fixed start, replace_existing on every start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from app.pipelines.ledger import StaleWriter, record_skip
from scheduler.config import SchedulerConfig
from scheduler.dispatch import Dispatcher, DispatchOrder
from scheduler.jobs import ORDER_JOB, TICK_JOB, JobContext, current_job
from scheduler.schedule import ANCHOR, JobSpec, get_spec

log = logging.getLogger("dugout.scheduler.service")
JOB_TABLE = "scheduled_jobs"


class TickExecutor(ThreadPoolExecutor):
    """A thread pool executor that hands each job its dispatcher and scheduled tick."""

    def __init__(self, max_workers: int, dispatcher: Dispatcher, name: str) -> None:
        super().__init__(max_workers, pool_kwargs={"thread_name_prefix": f"aps-{name}"})
        self.dispatcher = dispatcher

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def callback(f: Any) -> None:
            exc = f.exception()
            if exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        f = self._pool.submit(self._run, job, run_times)
        f.add_done_callback(callback)

    def _run(self, job: Any, run_times: list[datetime]) -> list[Any]:
        events: list[Any] = []
        for run_time in run_times:
            token = current_job.set(JobContext(self.dispatcher, run_time.astimezone(UTC)))
            try:
                events += run_job(job, job._jobstore_alias, [run_time], self._logger.name)
            finally:
                current_job.reset(token)
        return events


class WatchedScheduler(BackgroundScheduler):
    """A BackgroundScheduler whose loop wakes at least every `loop_interval_s` and stamps it."""

    def __init__(self, loop_interval_s: float, monotonic: Callable[[], float], **options: Any):
        super().__init__(**options)
        self.loop_interval_s = loop_interval_s
        self.monotonic = monotonic
        self.loop_beat = monotonic()

    def _process_jobs(self) -> float:
        try:
            wait = super()._process_jobs()
        except JobLookupError as exc:
            # A due job another host removed from the shared job store (a former leader
            # dropping the order it no longer leads) between this loop's read and its own
            # removal or update: it is gone, as it was about to be. Look again at once; the
            # thread dying for it would cost the watchdog's restart, and on a loaded machine
            # that restart has cost a new leader its lease.
            log.info("job already gone from the job store: %s", exc)
            wait = 0.0
        except BaseException:  # the loop thread dies with this; the watchdog restarts it
            log.exception("APScheduler loop failed")
            raise
        self.loop_beat = self.monotonic()
        return self.loop_interval_s if wait is None else min(wait, self.loop_interval_s)

    def loop_thread_alive(self) -> bool:
        """True while the loop thread runs (it dies when a job store write raises)."""
        thread = getattr(self, "_thread", None)
        return thread is not None and thread.is_alive()


def _same_trigger(a: Any, b: IntervalTrigger) -> bool:
    return (
        isinstance(a, IntervalTrigger) and a.interval == b.interval and a.start_date == b.start_date
    )


class SchedulerService:
    """One APScheduler instance: started by the leader, replaced by the watchdog when it stalls."""

    def __init__(
        self,
        *,
        engine_factory: Callable[[], Engine],
        dispatcher: Dispatcher,
        config: SchedulerConfig,
        monotonic: Callable[[], float] = time.monotonic,
        on_error: Callable[[str, str], None] = lambda job_id, message: None,
    ) -> None:
        self.dispatcher = dispatcher
        self.config = config
        self.monotonic = monotonic
        self.on_error = on_error
        self.started_at: float | None = None
        self.scheduler = WatchedScheduler(
            config.loop_interval_s,
            monotonic,
            jobstores={"default": SQLAlchemyJobStore(engine=engine_factory(), tablename=JOB_TABLE)},
            executors={
                "default": TickExecutor(config.default_threads, dispatcher, "default"),
                "critical": TickExecutor(config.critical_threads, dispatcher, "critical"),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": config.misfire_grace_s,
            },
            timezone=UTC,
        )
        self.scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )

    def start(
        self,
        specs: dict[str, JobSpec],
        *,
        all_paused: bool = False,
        first_runs: dict[str, datetime] | None = None,
    ) -> None:
        """Start paused, declare every job (removing stale ones), then let it run.

        `first_runs` sets the first tick of jobs new to this job store (a fresh local store
        continues where the lost database left off instead of skipping to the next tick).
        """
        self.scheduler.start(paused=True)
        declared = set()
        for spec in specs.values():
            if not spec.chained:
                self.declare(
                    spec,
                    paused=all_paused or not spec.enabled,
                    first_run=(first_runs or {}).get(spec.job_id),
                )
                declared.add(spec.job_id)
        for job in self.scheduler.get_jobs():
            if job.id not in declared and not job.id.startswith("order:"):
                log.info("removing job no longer in the schedule", extra={"job": job.id})
                job.remove()
        self.scheduler.resume()
        self.started_at = self.monotonic()

    def declare(self, spec: JobSpec, *, paused: bool, first_run: datetime | None = None) -> None:
        """Add or replace the interval job of `spec`, keeping its phase and next run time."""
        trigger = IntervalTrigger(seconds=spec.interval_s, start_date=ANCHOR, timezone=UTC)
        existing = self.scheduler.get_job(spec.job_id)
        options: dict[str, Any] = {}
        if paused:
            options["next_run_time"] = None
        elif (
            existing is not None
            and existing.next_run_time
            and _same_trigger(existing.trigger, trigger)
        ):
            options["next_run_time"] = existing.next_run_time  # a new leader catches up
        elif existing is None and first_run is not None:
            options["next_run_time"] = first_run
        self.scheduler.add_job(
            TICK_JOB,
            trigger=trigger,
            args=[spec.job_id],
            id=spec.job_id,
            name=f"{spec.pipeline} every {spec.interval_s}s",
            executor=spec.executor,
            replace_existing=True,
            **options,
        )

    def pause(self, job_id: str) -> bool:
        """Pause one job; False when it is not scheduled here."""
        if self.scheduler.get_job(job_id) is None:
            return False
        self.scheduler.pause_job(job_id)
        return True

    def pause_all(self) -> int:
        """Pause every interval job (the kill switch); returns how many."""
        jobs = [j for j in self.scheduler.get_jobs() if not j.id.startswith("order:")]
        for job in jobs:
            job.pause()
        return len(jobs)

    def next_run(self, job_id: str) -> datetime | None:
        """When `job_id` fires next (None when paused or unknown)."""
        job = self.scheduler.get_job(job_id)
        return job.next_run_time if job is not None else None

    def schedule_order(self, order: DispatchOrder, at: datetime) -> None:
        """Run `order` once at `at`, in the job store (so a new leader still runs it)."""
        self.scheduler.add_job(
            ORDER_JOB,
            trigger="date",
            run_date=at,
            args=[order.to_dict()],
            id=order.key,
            name=f"{order.trigger} {order.pipeline} attempt {order.attempt}",
            executor="critical" if order.priority == "critical" else "default",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def loop_problem(self) -> str | None:
        """Why the APScheduler loop looks dead or stalled, or None while it is healthy."""
        if not self.scheduler.loop_thread_alive():
            return "the APScheduler loop thread has died"
        age = self.monotonic() - self.scheduler.loop_beat
        if age > self.config.loop_stale_s:
            return f"the APScheduler loop has not run for {age:.1f} s"
        return None

    def shutdown(self, timeout_s: float = 60.0) -> bool:
        """Stop, waiting for running jobs up to `timeout_s`; False when it had to give up."""

        def stop() -> None:
            try:
                self.scheduler.shutdown(wait=True)
            except Exception as exc:  # already stopped, or its database is gone
                log.info("scheduler shutdown: %s", exc)

        stopper = threading.Thread(target=stop, name="aps-shutdown", daemon=True)
        stopper.start()
        stopper.join(timeout_s)
        if stopper.is_alive():
            log.error("APScheduler did not stop within %.0f s; abandoning it", timeout_s)
            return False
        return True

    def _on_event(self, event: Any) -> None:
        """Missed and max-instance ticks go to the ledger and metrics; errors to alerts."""
        try:
            if event.code == EVENT_JOB_ERROR:
                assert isinstance(event, JobExecutionEvent)
                self.on_error(event.job_id, f"{type(event.exception).__name__}: {event.exception}")
                return
            if event.job_id.startswith("order:"):
                return
            times = (
                [event.scheduled_run_time]
                if isinstance(event, JobExecutionEvent)
                else list(getattr(event, "scheduled_run_times", []) or [])
            )
            reason = (
                "missed: started later than the misfire grace time"
                if event.code == EVENT_JOB_MISSED
                else "the previous run was still going (max_instances=1)"
            )
            for tick in times:
                self._record_missed(event.job_id, tick.astimezone(UTC), reason)
        except StaleWriter:
            log.warning("missed tick not recorded: this leader was replaced")
        except Exception:
            log.exception("scheduler event handler failed")

    def _record_missed(self, job_id: str, tick: datetime, reason: str) -> None:
        d = self.dispatcher
        if not d.is_leader():  # a replaced leader's loop: the tick is its successor's
            return
        if "max_instances" in reason:
            d.liveness()  # a dead executor must not hold the job: its run is declared lost
        spec = get_spec(d.sessions, job_id)
        metrics = d.metrics()
        if metrics is not None:
            metrics.missed_jobs.labels(job_id).inc()
        if spec is None:
            return
        record_skip(
            d.sessions,
            spec.pipeline,
            trigger="schedule",
            scheduled_for=tick,
            reason=reason,
            now=d.clock(),
            actor=d.actor,
            leader_epoch=d.leader_epoch(),
        )
        log.warning(
            "tick not run", extra={"job": job_id, "tick": tick.isoformat(), "reason": reason}
        )
