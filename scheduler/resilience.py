"""Retries with backoff and jitter, circuit breakers kept in the database, and load throttling."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import CircuitBreaker
from scheduler.alerts import AlertBook, breaker_key
from scheduler.memory import memory_in_use_pct
from scheduler.pinned import PinnedReader

log = logging.getLogger("dugout.scheduler.resilience")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_BREAKERS = cast(Table, CircuitBreaker.__table__)
# Built once (Core, an expanding IN): every tick's guard runs it.
_STATES = select(_BREAKERS.c.name, _BREAKERS.c.state).where(
    _BREAKERS.c.name.in_(bindparam("names", expanding=True))
)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`max_retries` retries after the first attempt, at base * factor**(n-1) seconds +/- jitter."""

    max_retries: int = 3
    base_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1
    rng: Callable[[], float] = random.random  # uniform in [0, 1)

    def should_retry(self, attempt: int) -> bool:
        """True when the run that was attempt number `attempt` may be retried."""
        return attempt <= self.max_retries

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait before the retry that follows attempt number `attempt`."""
        base = self.base_s * self.factor ** (attempt - 1)
        return max(0.0, base * (1.0 + self.jitter * (2.0 * self.rng() - 1.0)))


@dataclass(frozen=True, slots=True)
class BreakerDecision:
    """Whether a job may run now, the breaker state behind the answer, and why."""

    allowed: bool
    state: str
    reason: str = ""


class BreakerBook:
    """Circuit breakers per job in the database, so every worker sees one state.

    Closed: runs pass; `threshold` consecutive failures open it. Open: runs are refused until
    `cooldown_s` has passed, then one probe runs (half-open). The probe's success closes it,
    its failure opens it again. A half-open probe that never reports back frees up after another
    cooldown, so a crashed worker cannot wedge the breaker.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        threshold: int = 5,
        cooldown_s: float = 300.0,
        clock: Callable[[], datetime] = utcnow,
        alerts: AlertBook | None = None,
        reader: PinnedReader | None = None,
    ) -> None:
        self.reader = reader  # the guard's read path (see states); None: a pooled session
        self.sessions = sessions
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.alerts = alerts

    def _row(self, session: Session, name: str) -> CircuitBreaker:
        row = session.get(CircuitBreaker, name, with_for_update=True)
        if row is None:
            row = CircuitBreaker(
                name=name, state=CLOSED, consecutive_failures=0, updated_at=self.clock()
            )
            session.add(row)
            session.flush()
        return row

    def _locked(self, name: str, change: Callable[[CircuitBreaker, datetime], T]) -> T:
        """Apply `change` to the breaker row under a row lock (creating it on first use)."""
        for _ in range(3):
            try:
                with self.sessions.begin() as session:
                    return change(self._row(session, name), self.clock())
            except IntegrityError:  # two workers created the row at once; the other won
                continue
        raise RuntimeError(f"circuit breaker {name!r} could not be updated")

    def state(self, name: str) -> tuple[str, int]:
        """The breaker's state and consecutive failures (closed, 0 when it has no row)."""
        with self.sessions() as session:
            row = session.get(CircuitBreaker, name)
            return (row.state, row.consecutive_failures) if row else (CLOSED, 0)

    def states(self, names: tuple[str, ...]) -> dict[str, str]:
        """The state of each named breaker that has a row, in one unlocked read (a dispatch's
        guard asks the kill switch and its job's breaker at once, writing nothing), through
        the pinned reader when there is one: one round trip, the latest commit."""
        rows: list[Any]
        if self.reader is not None:
            rows = self.reader.rows(_STATES, {"names": list(names)})
        else:
            with self.sessions() as session:
                rows = list(session.execute(_STATES, {"names": list(names)}).all())
        return {name: state for name, state in rows}

    def allow(self, name: str) -> BreakerDecision:
        """May `name` run now? Moves an open breaker whose cooldown has passed to half-open."""

        def change(row: CircuitBreaker, now: datetime) -> BreakerDecision:
            if row.state == CLOSED:
                return BreakerDecision(True, CLOSED)
            waited = now - (row.updated_at if row.state == HALF_OPEN else row.opened_at or now)
            if waited.total_seconds() < self.cooldown_s:
                return BreakerDecision(False, row.state, self._refusal(row))
            row.state, row.updated_at = HALF_OPEN, now
            log.info("circuit breaker half-open: probing", extra={"breaker": name})
            return BreakerDecision(True, HALF_OPEN, "half-open probe")

        return self._locked(name, change)

    def record_success(self, name: str) -> str:
        """A run of `name` worked: close the breaker; returns the state it was in. A breaker
        already closed with no failures counted is only read, never written."""
        with self.sessions() as session:
            row = session.get(CircuitBreaker, name)
            if row is not None and row.state == CLOSED and not row.consecutive_failures:
                return CLOSED

        def change(row: CircuitBreaker, now: datetime) -> str:
            before = row.state
            row.state, row.consecutive_failures, row.opened_at = CLOSED, 0, None
            row.updated_at = now
            return before

        before = self._locked(name, change)
        if before != CLOSED:
            log.info("circuit breaker closed", extra={"breaker": name})
            if self.alerts:
                self.alerts.resolve(breaker_key(name))
        return before

    def record_failure(self, name: str) -> bool:
        """A run of `name` failed: count it; True when this failure opened the breaker."""

        def change(row: CircuitBreaker, now: datetime) -> bool:
            row.consecutive_failures += 1
            row.updated_at = now
            trips = row.state == HALF_OPEN or (
                row.state == CLOSED and row.consecutive_failures >= self.threshold
            )
            if trips:
                row.state, row.opened_at = OPEN, now
            return trips

        opened = self._locked(name, change)
        if opened:
            failures = self.state(name)[1]
            log.warning("circuit breaker open", extra={"breaker": name, "failures": failures})
            if self.alerts:
                self.alerts.raise_(
                    breaker_key(name),
                    f"Circuit breaker open: {name}",
                    f"{failures} consecutive failures; runs are refused for "
                    f"{self.cooldown_s:.0f} s, then one probe runs.",
                    labels={"breaker": name},
                )
        return opened

    def reset(self, name: str) -> str:
        """Close the breaker by hand (an audited command); returns the state it was in."""
        return self.record_success(name)

    def _refusal(self, row: CircuitBreaker) -> str:
        if row.state == HALF_OPEN:
            return "circuit breaker half-open: a probe run is in progress"
        since = row.opened_at.isoformat(timespec="seconds") if row.opened_at else "?"
        return (
            f"circuit breaker open since {since} after {row.consecutive_failures} "
            f"consecutive failures"
        )


@dataclass(frozen=True, slots=True)
class LoadSample:
    """CPU and memory use of this machine, in percent."""

    cpu_pct: float
    mem_pct: float


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as fh:
            values = [float(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return values[3] + (values[4] if len(values) > 4 else 0.0), sum(values)


def _memory_pct() -> float:
    """Memory in use against this process's cgroup limit, or the machine's (see memory.py)."""
    return memory_in_use_pct()


class SystemLoad:
    """CPU use between two calls (from /proc/stat) and memory in use (cgroup-aware); no extra
    dependency.

    The first call has nothing to compare with and reports 0 % CPU, so it never throttles.
    """

    def __init__(self) -> None:
        self._last = _cpu_times()
        self._cpu = 0.0

    def __call__(self) -> LoadSample:
        """The current sample."""
        now = _cpu_times()
        if now is not None and self._last is not None and now[1] - self._last[1] > 0:
            idle, total = now[0] - self._last[0], now[1] - self._last[1]
            self._cpu = max(0.0, min(100.0, 100.0 * (1.0 - idle / total)))
            self._last = now
        return LoadSample(self._cpu, _memory_pct())


class Throttle:
    """Holds back low-priority runs under load; critical runs always keep their slots."""

    def __init__(
        self,
        *,
        max_runs: int = 4,
        cpu_pct: float = 90.0,
        mem_pct: float = 90.0,
        probe: Callable[[], LoadSample] | None = None,
    ) -> None:
        self.max_runs = max_runs
        self.cpu_pct = cpu_pct
        self.mem_pct = mem_pct
        self.probe = probe or SystemLoad()

    def verdict(self, priority: str, in_flight: int) -> str | None:
        """Why a `priority` run should wait now, or None when it may start."""
        if priority == "critical":
            return None
        if in_flight >= self.max_runs:
            return f"{in_flight} runs in flight (limit {self.max_runs})"
        load = self.probe()
        if load.cpu_pct >= self.cpu_pct:
            return f"CPU at {load.cpu_pct:.0f}% (limit {self.cpu_pct:.0f}%)"
        if load.mem_pct >= self.mem_pct:
            return f"memory at {load.mem_pct:.0f}% (limit {self.mem_pct:.0f}%)"
        return None


def source_breakers(sessions: sessionmaker[Session], settings: object = None) -> BreakerBook:
    """The per-source breaker book handed to the pipelines (names `source:<name>`), with the
    scheduler's breaker threshold and cooldown and its alerts (one alert per source)."""
    from scheduler.config import SchedulerConfig

    config = SchedulerConfig.from_settings(settings)
    return BreakerBook(
        sessions,
        threshold=config.breaker_threshold,
        cooldown_s=config.breaker_cooldown_s,
        alerts=AlertBook(sessions),
    )
