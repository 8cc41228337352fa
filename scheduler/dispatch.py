"""What happens to one scheduled tick: guards, the run, retries, breakers and the chain after it.

The Dispatcher knows nothing of APScheduler: it is handed an executor, a clock and a `later`
callback that runs an order at a given time (APScheduler date job, or the DB queue). Every
decision is written to the ledger, so a skipped or throttled tick shows up with its reason.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import PipelineRun
from app.pipelines.ledger import StaleWriter, record_skip, retry_run_id
from app.pipelines.runner import DuplicateTick, PipelineResult
from scheduler.alerts import AlertBook
from scheduler.config import SchedulerConfig
from scheduler.control import KILL_SWITCH, KillSwitch
from scheduler.executors import RunAbandoned, TaskExecutor
from scheduler.resilience import BreakerBook, LoadSample, RetryPolicy, Throttle
from scheduler.schedule import DEPENDENTS, JobSpec, get_spec
from scheduler.ticks import superseded

log = logging.getLogger("dugout.scheduler.dispatch")
SUCCESS = ("succeeded", "partial")


@dataclass(frozen=True, slots=True)
class DispatchOrder:
    """One thing to run for one tick: the first attempt, a retry, a deferral or a chained job."""

    job_id: str
    pipeline: str
    tick: datetime
    trigger: str = "schedule"
    attempt: int = 1
    parent_run_id: str | None = None
    deferrals: int = 0
    priority: str = "default"

    @property
    def key(self) -> str:
        """A stable id: the same order scheduled twice replaces itself instead of running twice."""
        return (
            f"order:{self.job_id}:{self.tick.isoformat()}:{self.trigger}:"
            f"{self.attempt}:{self.deferrals}"
        )

    @property
    def scheduled_for(self) -> datetime | None:
        """The ledger's tick key: on first attempts, and on a retry of one that never got a
        row (so it still cannot run beside another run of the tick); other retries get their
        own rows, linked to their parent."""
        return self.tick if self.attempt == 1 or self.parent_run_id is None else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a job store or the queue (the tick as ISO text)."""
        data = asdict(self)
        data["tick"] = self.tick.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DispatchOrder:
        """The order `to_dict` wrote."""
        return cls(**{**data, "tick": datetime.fromisoformat(data["tick"])})

    @classmethod
    def for_spec(cls, spec: JobSpec, tick: datetime, trigger: str = "schedule") -> DispatchOrder:
        """The first attempt of `spec` at `tick`."""
        return cls(spec.job_id, spec.pipeline, tick, trigger, priority=spec.priority)


@dataclass(frozen=True, slots=True)
class DispatchOutcome:
    """What the dispatcher did with an order: ran, skipped, deferred, retrying, duplicate..."""

    action: str
    run_id: uuid.UUID | None = None
    status: str | None = None
    reason: str = ""


Later = Callable[[DispatchOrder, datetime], object]


class Dispatcher:
    """Turns orders into runs through the executor, with every resilience rule applied."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        executor: TaskExecutor,
        later: Later,
        clock: Callable[[], datetime],
        breakers: BreakerBook,
        retry: RetryPolicy,
        throttle: Throttle,
        kill_switch: KillSwitch,
        actor: str,
        throttle_defer_s: float = 15.0,
        throttle_max_deferrals: int = 2,
        is_leader: Callable[[], bool] = lambda: True,
        metrics: Callable[[], Any] = lambda: None,
        leader_epoch: Callable[[], int | None] = lambda: None,
        liveness: Callable[[], object] = lambda: None,
        specs: Callable[[], Mapping[str, JobSpec]] = dict,
    ) -> None:
        self.specs = specs  # the host's schedule, re-read every heartbeat and after commands
        self.leader_epoch = leader_epoch  # the term this leader's own runs write under
        self.liveness = liveness  # declares lost runs now (a skipped tick asks first)
        self.sessions = sessions
        self.executor = executor
        self.later = later
        self.clock = clock
        self.breakers = breakers
        self.retry = retry
        self.throttle = throttle
        self.kill_switch = kill_switch
        self.actor = actor
        self.throttle_defer_s = throttle_defer_s
        self.throttle_max_deferrals = throttle_max_deferrals
        self.is_leader = is_leader
        self.metrics = metrics
        self.last_ticks: dict[str, datetime] = {}  # newest tick dispatched per job

    def run_tick(self, job_id: str, tick: datetime, trigger: str = "schedule") -> DispatchOutcome:
        """The scheduled tick of `job_id` at `tick` (the job's current row decides the rest)."""
        if tick > self.last_ticks.get(job_id, tick):
            self.last_ticks[job_id] = tick
        self.last_ticks.setdefault(job_id, tick)
        spec = self._spec(job_id)
        if spec is None:
            return DispatchOutcome("unknown", reason=f"no job {job_id!r} in the schedule")
        return self.dispatch(DispatchOrder.for_spec(spec, tick, trigger))

    def dispatch(self, order: DispatchOrder) -> DispatchOutcome:
        """Apply the guards, run the order, then retry, trip a breaker or chain downstream.

        A leader replaced while the run went (it froze, or lost the database) does nothing
        after it: no retry, no breaker count, no chain, no skip row (those are written under
        its epoch). Its successor owns the tick, and the run id is fixed here so any retry of
        it has one id whoever makes it.
        """
        try:
            return self._dispatch(order)
        except StaleWriter as exc:  # a skip row refused: this leader's term is over
            log.error("order fenced: this leader was replaced", extra={"order": order.key})
            return DispatchOutcome("fenced", exc.run_id, None, exc.why)

    def _dispatch(self, order: DispatchOrder) -> DispatchOutcome:
        if not self.is_leader():
            log.warning("not the leader: order dropped", extra={"order": order.key})
            return DispatchOutcome("fenced", reason="this host is no longer the leader")
        blocked = self._guard(order)
        if blocked is not None:
            return blocked
        parent = _uuid(order.parent_run_id)
        run_id = retry_run_id(parent, order.attempt) if parent else uuid.uuid4()
        try:
            result = self.executor.execute_pipeline(
                order.pipeline,
                run_id=run_id,
                trigger="retry" if order.attempt > 1 else order.trigger,
                scheduled_for=order.scheduled_for,
                actor=self.actor,
                attempt=order.attempt,
                parent_run_id=parent,
                priority=order.priority,
                leader_epoch=self.leader_epoch(),
            )
        except StaleWriter as exc:  # the database says this leader's term is over
            log.error("run fenced: this leader was replaced", extra={"order": order.key})
            return DispatchOutcome("fenced", exc.run_id, None, exc.why)
        except DuplicateTick:
            log.info("duplicate tick suppressed", extra={"order": order.key})
            return DispatchOutcome("duplicate", reason="this tick already has a run")
        except RunAbandoned as exc:  # the process is stopping: the run is re-queued or goes on
            log.warning("run abandoned at shutdown", extra={"order": order.key, "why": str(exc)})
            return DispatchOutcome("abandoned", exc.run_id, None, str(exc))
        except Exception as exc:  # the run could not start or its connection died under it
            if not self.is_leader():  # the new leader declared it lost and retries it
                log.error("run failed after this leader was replaced", extra={"order": order.key})
                return DispatchOutcome("fenced", run_id, None, f"{type(exc).__name__}: {exc}")
            log.exception("run could not start", extra={"order": order.key})
            return self._failed(order, self._opened(run_id), f"{type(exc).__name__}: {exc}")
        if not self.is_leader():  # it ended, but the tick is the new leader's to follow up
            log.warning("run ended after this leader was replaced", extra={"order": order.key})
            return DispatchOutcome("fenced", result.run_id, result.status, "leader replaced")
        if result.status in SUCCESS:
            self.breakers.record_success(order.job_id)
            self._chain(order)
            return DispatchOutcome("ran", result.run_id, result.status)
        if result.status == "interrupted":  # its executor was lost: retried like a failure
            return self._interrupted(order, result)
        if result.status == "skipped":
            reason = _reason(result)
            self._skip_downstream(order, f"upstream {order.pipeline} skipped: {reason}")
            return DispatchOutcome("ran", result.run_id, result.status, reason)
        return self._failed(order, result.run_id, result.error or result.status)

    def _opened(self, run_id: uuid.UUID) -> uuid.UUID | None:
        """`run_id` when its row exists (a retry then links to it), else None."""
        try:
            with self.sessions() as session:
                return run_id if session.get(PipelineRun, run_id) is not None else None
        except Exception:  # the database is down: the retry starts a fresh family
            return None

    def _spec(self, job_id: str) -> JobSpec | None:
        """The job's spec from the host's schedule, read from the table when it has none."""
        spec = self.specs().get(job_id)
        return spec if spec is not None else get_spec(self.sessions, job_id)

    def _guard(self, order: DispatchOrder) -> DispatchOutcome | None:
        """Refuse the order when the kill switch, its breaker or the load say so. The kill
        switch and the breaker are read in one query; only a breaker that is not closed takes
        the locked path that may move it to half-open."""
        states = self.breakers.states((KILL_SWITCH, order.job_id))
        if states.get(KILL_SWITCH) == "open":
            return self._skip(order, "kill switch engaged")
        if states.get(order.job_id, "closed") != "closed":
            decision = self.breakers.allow(order.job_id)
            if not decision.allowed:
                return self._skip(order, decision.reason)
        why = self.throttle.verdict(order.priority, self.executor.in_flight())
        if why is None:
            return None
        metrics = self.metrics()
        if metrics is not None:
            metrics.throttled_runs.labels(order.pipeline).inc()
        if order.deferrals < self.throttle_max_deferrals:
            at = self.clock() + timedelta(seconds=self.throttle_defer_s)
            self.later(replace(order, deferrals=order.deferrals + 1), at)
            log.info("run deferred under load", extra={"order": order.key, "reason": why})
            return DispatchOutcome("deferred", reason=f"throttled: {why}")
        return self._skip(order, f"throttled: {why}")

    def _skip(self, order: DispatchOrder, reason: str) -> DispatchOutcome:
        run_id = record_skip(
            self.sessions,
            order.pipeline,
            trigger=_trigger(order),
            scheduled_for=order.scheduled_for,
            reason=reason,
            now=self.clock(),
            actor=self.actor,
            attempt=order.attempt,
            parent_run_id=_uuid(order.parent_run_id),
            leader_epoch=self.leader_epoch(),
        )
        self._skip_downstream(order, f"upstream {order.pipeline} skipped: {reason}")
        return DispatchOutcome("skipped", run_id, "skipped", reason)

    def _interrupted(self, order: DispatchOrder, result: PipelineResult) -> DispatchOutcome:
        """Retry a run whose executor was lost (no breaker count: the job did not fail),
        unless a newer tick of the job already succeeded."""
        with self.sessions() as session:
            if superseded(session, order.pipeline, order.tick):
                return DispatchOutcome("superseded", result.run_id, "interrupted", "newer tick ran")
        error = result.error or "interrupted"
        return self._failed(order, result.run_id, error, count=False, delay_s=0.0)

    def _failed(
        self,
        order: DispatchOrder,
        run_id: uuid.UUID | None,
        error: str,
        *,
        count: bool = True,
        delay_s: float | None = None,
    ) -> DispatchOutcome:
        opened = self.breakers.record_failure(order.job_id) if count else False
        if self.retry.should_retry(order.attempt) and not opened:
            delay = self.retry.delay_s(order.attempt) if delay_s is None else delay_s
            retry = replace(
                order,
                attempt=order.attempt + 1,
                deferrals=0,
                parent_run_id=str(run_id) if run_id else order.parent_run_id,
            )
            self.later(retry, self.clock() + timedelta(seconds=delay))
            log.info("retry scheduled", extra={"order": retry.key, "delay_s": round(delay, 3)})
            return DispatchOutcome("retrying", run_id, "failed", f"retry in {delay:.3f} s")
        why = "circuit breaker opened" if opened else f"failed after {order.attempt} attempts"
        self._skip_downstream(order, f"upstream {order.pipeline} {why}: {error[:200]}")
        return DispatchOutcome("failed", run_id, "failed", error)

    def _chain(self, order: DispatchOrder) -> None:
        """Queue the jobs that run after a successful `order`, for the same tick."""
        for spec in self._downstream(order.job_id):
            self.later(DispatchOrder.for_spec(spec, order.tick, "dependency"), self.clock())

    def _skip_downstream(self, order: DispatchOrder, reason: str) -> None:
        """Record every job chained after `order` as skipped for this tick, with the reason."""
        for spec in self._downstream(order.job_id):
            record_skip(
                self.sessions,
                spec.pipeline,
                trigger="dependency",
                scheduled_for=order.tick,
                reason=reason,
                now=self.clock(),
                actor=self.actor,
                leader_epoch=self.leader_epoch(),
            )
            self._skip_downstream(
                DispatchOrder.for_spec(spec, order.tick, "dependency"),
                f"upstream {spec.pipeline} skipped: {reason}",
            )

    def _downstream(self, job_id: str) -> list[JobSpec]:
        specs = [self._spec(j) for j in DEPENDENTS.get(job_id, ())]
        return [s for s in specs if s is not None and s.enabled]


def _trigger(order: DispatchOrder) -> str:
    return "retry" if order.attempt > 1 else order.trigger


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _reason(result: PipelineResult) -> str:
    for stage in result.summary.values():
        if isinstance(stage, dict) and stage.get("reason"):
            return str(stage["reason"])
    return "nothing to do"


def build_dispatcher(
    sessions: sessionmaker[Session],
    executor: TaskExecutor,
    config: SchedulerConfig,
    *,
    later: Later,
    actor: str,
    clock: Callable[[], datetime] = utcnow,
    breakers: BreakerBook | None = None,
    kill_switch: KillSwitch | None = None,
    is_leader: Callable[[], bool] = lambda: True,
    metrics: Callable[[], Any] = lambda: None,
    leader_epoch: Callable[[], int | None] = lambda: None,
    liveness: Callable[[], object] = lambda: None,
    load_probe: Callable[[], LoadSample] | None = None,
    rng: Callable[[], float] = random.random,
    specs: Callable[[], Mapping[str, JobSpec]] = dict,
) -> Dispatcher:
    """A Dispatcher with the configured retry policy, breakers, throttle and kill switch."""
    return Dispatcher(
        sessions=sessions,
        executor=executor,
        later=later,
        clock=clock,
        breakers=breakers
        or BreakerBook(
            sessions,
            threshold=config.breaker_threshold,
            cooldown_s=config.breaker_cooldown_s,
            clock=clock,
            alerts=AlertBook(sessions, clock),
        ),
        retry=RetryPolicy(
            config.retry_max, config.retry_base_s, config.retry_factor, config.retry_jitter, rng
        ),
        throttle=Throttle(
            max_runs=config.throttle_max_runs,
            cpu_pct=config.throttle_cpu_pct,
            mem_pct=config.throttle_mem_pct,
            probe=load_probe,
        ),
        kill_switch=kill_switch or KillSwitch(sessions, clock),
        actor=actor[:64],
        throttle_defer_s=config.throttle_defer_s,
        throttle_max_deferrals=config.throttle_max_deferrals,
        is_leader=is_leader,
        metrics=metrics,
        leader_epoch=leader_epoch,
        liveness=liveness,
        specs=specs,
    )
