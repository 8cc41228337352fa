"""The leader's supervisor: starts APScheduler, watches its loop, restarts it, falls back.

A stalled or dead loop (APScheduler's thread dies when its job store fails mid-update) is
restarted with an alert. After `restart_limit` restarts within `restart_window_s` the leader
stops trusting APScheduler: it enqueues the due ticks of critical jobs into the DB queue and
runs them with an in-process queue worker (as `dugout worker` does), probing APScheduler again
every `fallback_probe_s` and returning to it once a fresh instance stays healthy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from scheduler.alerts import FALLBACK, WATCHDOG, AlertBook
from scheduler.config import SchedulerConfig
from scheduler.control import KillSwitch
from scheduler.dispatch import Dispatcher, DispatchOrder
from scheduler.queue import DbQueue, QueueWorker
from scheduler.schedule import JobSpec, latest_tick
from scheduler.service import SchedulerService

log = logging.getLogger("dugout.scheduler.watchdog")


class RestartBudget:
    """Counts restarts in a sliding window; exhausted at `limit` within `window_s`."""

    def __init__(self, limit: int, window_s: float, monotonic: Callable[[], float]) -> None:
        self.limit = limit
        self.window_s = window_s
        self.monotonic = monotonic
        self._times: deque[float] = deque()

    def record(self) -> None:
        """Count one restart now."""
        self._times.append(self.monotonic())

    def count(self) -> int:
        """Restarts inside the window."""
        cutoff = self.monotonic() - self.window_s
        while self._times and self._times[0] < cutoff:
            self._times.popleft()
        return len(self._times)

    def exhausted(self) -> bool:
        """True when another failure should not be answered with another restart."""
        return self.count() >= self.limit

    def clear(self) -> None:
        """Forget past restarts (APScheduler proved healthy again)."""
        self._times.clear()


class FallbackTicker:
    """Enqueues each due tick of the enabled critical interval jobs once."""

    def __init__(
        self, queue: DbQueue, specs: Callable[[], dict[str, JobSpec]], kill_switch: KillSwitch
    ) -> None:
        self.queue = queue
        self.specs = specs
        self.kill_switch = kill_switch
        self.last: dict[str, datetime] = {}

    def tick(self, now: datetime) -> int:
        """Enqueue the newest due tick of each critical job not enqueued yet; returns how many."""
        if self.kill_switch.engaged():
            return 0
        queued = 0
        for spec in self.specs().values():
            if spec.priority != "critical" or spec.chained or not spec.enabled:
                continue
            tick = latest_tick(spec.interval_s, now)
            last = self.last.get(spec.job_id)
            if last is not None and last >= tick:
                continue
            self.queue.enqueue_order(DispatchOrder.for_spec(spec, tick, "fallback"), tick)
            self.last[spec.job_id] = tick
            queued += 1
        return queued


class Supervisor:
    """Owns the leader's APScheduler instance and the fallback path; implements SchedulerOps."""

    def __init__(
        self,
        *,
        make_service: Callable[[], SchedulerService],
        dispatcher: Dispatcher,
        specs: Callable[[], dict[str, JobSpec]],
        queue: DbQueue,
        kill_switch: KillSwitch,
        alerts: AlertBook,
        config: SchedulerConfig,
        name: str,
        monotonic: Callable[[], float] = time.monotonic,
        first_runs: dict[str, datetime] | None = None,
    ) -> None:
        self.make_service = make_service
        self.dispatcher = dispatcher
        self.specs = specs
        self.queue = queue
        self.kill_switch = kill_switch
        self.alerts = alerts
        self.config = config
        self.name = name
        self.monotonic = monotonic
        self.first_runs = first_runs  # first ticks for a fresh job store (see SchedulerService)
        self.service: SchedulerService | None = None
        self.mode = "stopped"  # scheduler | fallback | stopped
        self.restarts = RestartBudget(config.restart_limit, config.restart_window_s, monotonic)
        self.ticker = FallbackTicker(queue, specs, kill_switch)
        self._next_probe = 0.0
        self._worker_stop = threading.Event()
        self._worker: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start APScheduler (or the fallback, if it will not start)."""
        self.mode = "scheduler"
        if not self._start_service():
            self._enter_fallback("APScheduler did not start")

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop APScheduler and the fallback worker, waiting for running jobs up to a limit."""
        self.mode = "stopped"
        self._stop_service(timeout_s)
        self._stop_worker()

    def check(self) -> None:
        """The watchdog round, once per leader heartbeat."""
        if self.mode == "scheduler":
            problem = self.service.loop_problem() if self.service else "no APScheduler running"
            if problem is not None:
                self._on_stall(problem)
        elif self.mode == "fallback":
            self._probe()

    def tick(self, now: datetime) -> None:
        """In fallback mode, enqueue the due critical ticks (called about once a second)."""
        if self.mode == "fallback":
            self.ticker.tick(now)

    def later(self, order: DispatchOrder, at: datetime) -> None:
        """Run `order` at `at`: through APScheduler when it runs, else through the DB queue."""
        service = self.service
        if self.mode == "scheduler" and service is not None:
            try:
                service.schedule_order(order, at)
                return
            except Exception:
                log.exception("could not schedule an order; queueing it instead")
        self.queue.enqueue_order(order, at)

    # --- watchdog and fallback -----------------------------------------------------------------

    def _on_stall(self, problem: str) -> None:
        log.error("scheduler loop unhealthy: %s", problem)
        self._stop_service(timeout_s=5.0)
        if self.restarts.exhausted():
            self._enter_fallback(
                f"{problem}; {self.restarts.count()} restarts within "
                f"{self.config.restart_window_s:.0f} s"
            )
            return
        self.restarts.record()
        self.alerts.raise_(
            WATCHDOG,
            "Scheduler loop stalled: restarted",
            f"{problem}. Restart {self.restarts.count()} of "
            f"{self.config.restart_limit} allowed within "
            f"{self.config.restart_window_s:.0f} s.",
        )
        if not self._start_service():
            self._enter_fallback("APScheduler did not restart")

    def _enter_fallback(self, why: str) -> None:
        self.mode = "fallback"
        self._next_probe = self.monotonic() + self.config.fallback_probe_s
        self.alerts.raise_(
            FALLBACK, "Scheduler in fallback: critical pipelines run via the DB queue", why
        )
        self._start_worker()

    def _probe(self) -> None:
        """In fallback: try a fresh APScheduler; leave fallback once it has stayed healthy."""
        service = self.service
        if service is None:
            if self.monotonic() >= self._next_probe and not self._start_service():
                self._next_probe = self.monotonic() + self.config.fallback_probe_s
            return
        problem = service.loop_problem()
        if problem is not None:
            log.warning("APScheduler probe failed: %s", problem)
            self._stop_service(timeout_s=5.0)
            self._next_probe = self.monotonic() + self.config.fallback_probe_s
            return
        if self.monotonic() - (service.started_at or 0.0) >= 2 * self.config.loop_interval_s:
            self.mode = "scheduler"
            self.restarts.clear()
            self._stop_worker()
            self.alerts.resolve(FALLBACK)
            self.alerts.resolve(WATCHDOG)
            log.info("APScheduler healthy again: fallback ended")

    def _start_service(self) -> bool:
        try:
            service = self.make_service()
            service.start(
                self.specs(), all_paused=self.kill_switch.engaged(), first_runs=self.first_runs
            )
        except Exception:
            log.exception("APScheduler failed to start")
            return False
        self.service, self.first_runs = service, None
        return True

    def _stop_service(self, timeout_s: float = 60.0) -> None:
        service, self.service = self.service, None
        if service is not None:
            service.shutdown(timeout_s)

    def _start_worker(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            return
        self._worker_stop.clear()
        worker = QueueWorker(
            self.queue,
            self.dispatcher.executor,
            self.dispatcher,
            name=f"fallback:{self.name}",
            poll_s=self.config.queue_poll_s,
        )
        self._worker = threading.Thread(
            target=worker.run_until,
            args=(self._worker_stop,),
            name="dugout-fallback-worker",
            daemon=True,
        )
        self._worker.start()

    def _stop_worker(self) -> None:
        self._worker_stop.set()
        if self._worker is not None:
            self._worker.join(60)
            self._worker = None

    # --- SchedulerOps --------------------------------------------------------------------------

    def pause(self, job_id: str) -> str:
        """Pause `job_id` in the running APScheduler (the table row is already disabled)."""
        if self.service is not None and self.service.pause(job_id):
            return f"paused {job_id}"
        return f"paused {job_id} (disabled in the schedule)"

    def resume(self, spec: JobSpec) -> str:
        """Fire `spec` again from its next anchored tick."""
        return self._redeclare(spec, f"resumed {spec.job_id}")

    def reschedule(self, spec: JobSpec) -> str:
        """Fire `spec` on its new interval, still anchored."""
        return self._redeclare(spec, f"{spec.job_id} now every {spec.interval_s} s")

    def kill(self, engaged: bool) -> str:
        """Pause every job, or redeclare the enabled ones."""
        service = self.service
        if engaged:
            n = service.pause_all() if service is not None else 0
            return f"kill switch engaged: {n} jobs paused"
        n = 0
        for spec in self.specs().values():
            if spec.enabled and not spec.chained and service is not None:
                service.declare(spec, paused=False)
                n += 1
        return f"kill switch lifted: {n} jobs resumed"

    def _redeclare(self, spec: JobSpec, done: str) -> str:
        service = self.service
        if spec.chained:
            return f"{done} (it runs after its upstream job)"
        if service is None:
            return f"{done} (the fallback ticker reads the schedule table)"
        service.declare(spec, paused=False)
        nxt = service.next_run(spec.job_id)
        return f"{done}; next run {nxt.isoformat() if nxt else 'not scheduled'}"

    def describe(self) -> dict[str, Any]:
        """Mode, restarts and jobs, for status pages."""
        jobs: list[dict[str, Any]] = []
        service = self.service
        if service is not None:
            for job in service.scheduler.get_jobs():
                nxt = job.next_run_time
                jobs.append(
                    {"id": job.id, "name": job.name, "next_run": nxt.isoformat() if nxt else None}
                )
        return {"mode": self.mode, "restarts": self.restarts.count(), "jobs": jobs}
