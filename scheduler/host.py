"""The scheduler host: one per process, it tries to lead; only the leader runs APScheduler.

Its thread loops: a follower tries the leader lock every `heartbeat_s`; the leader renews the
lease, runs the watchdog, applies commands (woken by NOTIFY, polling as fallback) and, in
fallback mode, enqueues due critical ticks. Losing the lease stops APScheduler at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.audit import AuditLog
from app.db import build_engine, utcnow
from app.pipelines.ledger import HEARTBEATS, Interruption, interrupt_runs
from scheduler.alerts import DATABASE_LOST, AlertBook, job_error_key
from scheduler.commands import CommandApplier, CommandListener
from scheduler.config import SchedulerConfig
from scheduler.control import KillSwitch
from scheduler.dispatch import DispatchOrder, build_dispatcher
from scheduler.executors import LocalExecutor, TaskExecutor
from scheduler.leader import (
    FileLeaderLock,
    LeaderLock,
    PostgresLeaderLock,
    host_identity,
    psycopg_dsn,
)
from scheduler.outbox import (
    LocalMode,
    database_reachable,
    leftover_outboxes,
    outbox_path,
    outboxes_in_use,
    replay_file,
)
from scheduler.outcomes import CommandOutcomes
from scheduler.pinned import PinnedReader
from scheduler.queue import DbQueue
from scheduler.recovery import RunRecovery, requeue_orphan
from scheduler.resilience import BreakerBook, LoadSample
from scheduler.schedule import JobSpec, load_schedule, seed_schedule
from scheduler.service import SchedulerService
from scheduler.watchdog import Supervisor

log = logging.getLogger("dugout.scheduler.host")


class SchedulerHost:
    """Leader election, APScheduler, commands, watchdog and fallback for one process."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        database_url: str,
        executor: TaskExecutor,
        config: SchedulerConfig,
        var_dir: Path,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        identity: str | None = None,
        metrics: Callable[[], Any] = lambda: None,
        lock: LeaderLock | None = None,
        load_probe: Callable[[], LoadSample] | None = None,
        rng: Callable[[], float] = random.random,
        audit: AuditLog | None = None,
    ) -> None:
        self.audit = audit  # outcome records of audited commands go here (None: not written)
        self.sessions = sessions
        self.database_url = database_url
        self.executor = executor
        self.config = config
        self.var_dir = var_dir
        self.clock = clock
        self.monotonic = monotonic
        self.load_probe = load_probe
        self.identity = identity or host_identity()
        self.is_postgres = database_url.startswith("postgresql")
        self.lock = lock or self._make_lock(var_dir)
        self._wire(metrics, rng)
        self.local: LocalMode | None = None  # set while the main database is lost
        self._specs: dict[str, JobSpec] = {}  # last schedule read, for local mode
        self._kill = False
        self._next_probe = 0.0
        self.leader_since: datetime | None = None
        self._leading = False
        self._valid_until = 0.0
        self._next_beat = 0.0
        self._next_recovery = 0.0
        self._outbox_wait_until: float | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _wire(self, metrics: Callable[[], Any], rng: Callable[[], float]) -> None:
        """Build the parts the leader uses: breakers, queue, dispatcher, supervisor, commands."""
        sessions, config, clock = self.sessions, self.config, self.clock
        self.alerts = AlertBook(sessions, clock)
        self.kill_switch = KillSwitch(sessions, clock)
        self.guard_reader = PinnedReader(sessions.kw["bind"])  # each tick's one read, pinned
        self.breakers = BreakerBook(
            sessions,
            threshold=config.breaker_threshold,
            cooldown_s=config.breaker_cooldown_s,
            clock=clock,
            alerts=self.alerts,
            reader=self.guard_reader,
        )
        self.queue = DbQueue(
            sessions, lock_dir=None if self.is_postgres else self.var_dir, clock=clock
        )
        self.dispatcher = build_dispatcher(
            sessions,
            self.executor,
            config,
            later=self._later,
            clock=clock,
            actor=f"scheduler:{self.identity}",
            breakers=self.breakers,
            kill_switch=self.kill_switch,
            is_leader=self.leading,
            metrics=metrics,
            leader_epoch=lambda: self.lock.epoch if self._leading else None,
            liveness=self._declare_lost,
            load_probe=self.load_probe,
            rng=rng,
            specs=lambda: self._specs,
        )
        actor = self.dispatcher.actor
        self.recovery = RunRecovery(
            sessions,
            own_actor=actor,
            lost_after_s=config.run_lost_after_s,
            clock=clock,
            requeue=lambda orphan: requeue_orphan(sessions, orphan, actor),
        )
        HEARTBEATS.configure(config.run_heartbeat_s)
        self.supervisor = Supervisor(
            make_service=self._make_service,
            dispatcher=self.dispatcher,
            specs=lambda: load_schedule(sessions),
            queue=self.queue,
            kill_switch=self.kill_switch,
            alerts=self.alerts,
            config=config,
            name=self.identity,
            monotonic=self.monotonic,
        )
        self.outcomes = (
            CommandOutcomes(
                sessions,
                self.audit,
                ttl_s=config.command_ttl_s,
                applied_by=f"scheduler leader {self.identity}",
                clock=clock,
            )
            if self.audit is not None
            else None
        )
        self.commands = CommandApplier(
            sessions,
            self.supervisor,
            executor=self.executor,
            breakers=self.breakers,
            kill_switch=self.kill_switch,
            is_leader=self.leading,
            clock=clock,
            later=self._later,
            outcomes=self.outcomes,
        )
        self.listener = (
            CommandListener(psycopg_dsn(self.database_url), self.wake) if self.is_postgres else None
        )

    def _make_lock(self, var_dir: Path) -> LeaderLock:
        if self.is_postgres:
            return PostgresLeaderLock(
                psycopg_dsn(self.database_url),
                self.identity,
                lease_ttl_s=self.config.lease_ttl_s,
                idle_session_timeout_s=self.config.idle_session_timeout_s,
                clock=self.clock,
            )
        return FileLeaderLock(
            var_dir / "scheduler.lock",
            self.sessions,
            self.identity,
            lease_ttl_s=self.config.lease_ttl_s,
            clock=self.clock,
        )

    def _make_service(self) -> SchedulerService:
        return SchedulerService(
            engine_factory=lambda: build_engine(self.database_url, pool_pre_ping=True),
            dispatcher=self.dispatcher,
            config=self.config,
            monotonic=self.monotonic,
            on_error=self._job_error,
        )

    # --- public ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the host thread (a daemon: it never keeps the process alive)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dugout-scheduler-host", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Step down if leading (waiting for running jobs) and end the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wake(self) -> None:
        """Look at the command table now instead of at the next poll."""
        self._wake.set()

    def leading(self) -> bool:
        """True while this host leads and its lease has not lapsed (a local fence)."""
        return self._leading and self.monotonic() < self._valid_until

    def status(self) -> dict[str, Any]:
        """Who this host is and what it is doing."""
        return {
            "identity": self.identity,
            "leader": self.leading(),
            "epoch": self.lock.epoch if self._leading else None,
            "leader_since": self.leader_since.isoformat() if self.leader_since else None,
            **(
                self.supervisor.describe()
                if self._leading
                else {"mode": "local outbox" if self.local else "follower"}
            ),
        }

    # --- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        """The host thread: follow, lead, or keep the outbox, until stopped."""
        while not self._stop.is_set():
            try:
                if self.local is not None:
                    self._local_round()
                elif self._leading:
                    self._lead_round()
                elif self._outbox_elsewhere():
                    self._stop.wait(self.config.heartbeat_s)
                elif self.lock.try_acquire():
                    self._become_leader()
                else:
                    self._follow_round()
            except Exception:
                log.exception("scheduler host error")
                if self._leading and self._can_go_local():
                    self._enter_local("the database failed under the leader")
                elif self._leading:
                    self._step_down("host error")
                self._stop.wait(self.config.heartbeat_s)
        if self.local is not None:
            self.local.stop()  # its outbox is replayed by whoever leads next
            self.local.release()
        if self._leading:
            self._step_down("host stopping")
        else:
            self.lock.close()
        self.guard_reader.close()  # a late tick of a former term may have reopened it

    def _follow_round(self) -> None:
        """While another host leads (or none can): expire audited commands left too long."""
        if self.outcomes is not None:
            self.outcomes.expire_stale()
        self._stop.wait(self.config.heartbeat_s)

    def _lead_round(self) -> None:
        """Heartbeat and watchdog when due, fallback ticks, commands, then a short wait."""
        now = self.monotonic()
        if now >= self._next_beat:
            if not self.lock.heartbeat():
                if self.lock.lost_because == "unreachable" and self._can_go_local():
                    self._enter_local("the leader's heartbeat could not reach the database")
                else:
                    self._step_down("lease lost")
                return
            self._valid_until = now + self.config.lease_ttl_s
            self._next_beat = now + self.config.heartbeat_s
            self._specs, self._kill = load_schedule(self.sessions), self.kill_switch.engaged()
            self.supervisor.check()
        if now >= self._next_recovery:
            self._next_recovery = now + self.config.run_heartbeat_s
            self.recovery.round(self.lock.epoch)
        self.supervisor.tick(self.clock())
        if self.commands.apply_pending():  # a command may change the schedule: read it again
            self._specs = load_schedule(self.sessions)
        wait = max(0.0, min(self.config.command_poll_s, self._next_beat - self.monotonic()))
        if self._wake.wait(wait):
            self._wake.clear()

    def _become_leader(self) -> None:
        """Clean up after the previous leader, seed and replay, then start APScheduler."""
        now = self.monotonic()
        self._leading = True
        self._valid_until = now + self.config.lease_ttl_s
        self._next_beat = now + self.config.heartbeat_s
        self.leader_since = self.clock()
        try:
            previous = self.lock.previous_holder
            lost = self.recovery.declare_lost(self.lock.epoch)
            if lost:
                log.warning(
                    "marked runs of the previous leader interrupted",
                    extra={"runs": len(lost), "previous": previous},
                )
            seed_schedule(self.sessions)
            self._replay_leftovers()
            self._specs, self._kill = load_schedule(self.sessions), self.kill_switch.engaged()
            if self.listener is not None:
                self.listener.start()
            self.supervisor.start()
        except Exception:
            log.exception("could not start leading")
            self._step_down("start failed")
            return
        log.info("scheduler host leads", extra={"holder": self.identity, "epoch": self.lock.epoch})

    def _step_down(self, reason: str) -> None:
        log.warning("scheduler host steps down: %s", reason, extra={"holder": self.identity})
        self._leading = False
        self.leader_since = None
        try:
            if self.listener is not None:
                self.listener.stop()
            self.supervisor.stop()
        finally:
            self.guard_reader.close()
            self.lock.release()

    # --- database loss -----------------------------------------------------------------------

    def _can_go_local(self) -> bool:
        return (
            self.is_postgres
            and isinstance(self.executor, LocalExecutor)
            and not database_reachable(psycopg_dsn(self.database_url))
        )

    def _enter_local(self, reason: str) -> None:
        """Stop the main-database scheduler and schedule into this host's outbox instead."""
        log.error("main database lost: scheduling into the local outbox", extra={"why": reason})
        self._leading, self.leader_since = False, None
        if self.listener is not None:
            self.listener.stop()
        self.supervisor.stop(timeout_s=5.0)
        self.guard_reader.close()
        self.lock.release()
        assert isinstance(self.executor, LocalExecutor)
        local = LocalMode(
            path=outbox_path(self.var_dir, self.identity),
            executor=self.executor,
            config=self.config,
            actor=self.dispatcher.actor,
            clock=self.clock,
            build_dispatcher=build_dispatcher,
            load_probe=self.load_probe,
        )
        try:
            local.start(self._specs, self._kill, dict(self.dispatcher.last_ticks), reason)
        except Exception:
            log.exception("could not start the local outbox scheduler")
            local.stop()
            local.release()
            return
        self.local = local
        self._next_probe = self.monotonic() + self.config.outbox_replay_s

    def _local_round(self) -> None:
        assert self.local is not None
        self.local.tick()
        if self.monotonic() >= self._next_probe:
            self._next_probe = self.monotonic() + self.config.outbox_replay_s
            if database_reachable(psycopg_dsn(self.database_url)):
                self._leave_local()
                return
        self._stop.wait(min(self.config.heartbeat_s, self.config.outbox_replay_s))

    def _leave_local(self) -> None:
        """The database is back: stop local scheduling, replay the outbox, elect again."""
        local, self.local = self.local, None
        assert local is not None
        local.stop()
        try:
            local.replay(self.sessions.kw["bind"])
        except Exception:
            log.exception("outbox replay failed; it is kept and retried by the next leader")
            return
        lost = interrupt_runs(
            self.sessions,
            Interruption("LeaderLost", "the main database was lost while this run was going"),
            self.clock(),
            actor=self.dispatcher.actor[:64],
        )
        for orphan in self.recovery.orphans_among(lost):
            requeue_orphan(self.sessions, orphan, self.dispatcher.actor)
        self.alerts.resolve(DATABASE_LOST)
        log.warning("main database back: outbox replayed, electing a leader again")

    def _outbox_elsewhere(self) -> bool:
        """True while another host still schedules into (or replays) its outbox: it holds the
        outbox's lock, and leading now would run its ticks twice. Hand-over is by that lock
        alone, never by a wait that runs out."""
        if not self.is_postgres or not self.var_dir.exists():
            return False
        busy = outboxes_in_use(self.var_dir, outbox_path(self.var_dir, self.identity))
        if not busy:
            self._outbox_wait_until = None
            return False
        now = self.monotonic()
        if self._outbox_wait_until is None or now >= self._outbox_wait_until:
            self._outbox_wait_until = now + 60.0  # say so once a minute while it lasts
            log.warning(
                "another host is on its outbox; waiting for its lock before leading",
                extra={"outboxes": [p.name for p in busy]},
            )
        return True

    def _replay_leftovers(self) -> None:
        """Replay outboxes an earlier process left behind (it died before the database returned)."""
        if not self.is_postgres or not self.var_dir.exists():
            return
        for path in leftover_outboxes(self.var_dir, outbox_path(self.var_dir, self.identity)):
            try:
                replay_file(path, self.sessions.kw["bind"])
            except Exception:
                log.exception("could not replay %s", path)

    def _declare_lost(self) -> None:
        """A tick found the previous run still going: check that run is alive at all, in the
        host's thread at once (never in APScheduler's loop, which a lock wait would stall
        into coalescing ticks)."""
        self._next_recovery = 0.0
        self._wake.set()

    def _later(self, order: DispatchOrder, at: datetime) -> None:
        self.supervisor.later(order, at)

    def _job_error(self, job_id: str, message: str) -> None:
        self.alerts.raise_(
            job_error_key(job_id),
            f"Scheduler job {job_id} raised an error",
            message,
            severity="ticket",
            labels={"job": job_id},
        )
