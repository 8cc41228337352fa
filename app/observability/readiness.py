"""Readiness checks beyond the database: a scheduler leader with a fresh heartbeat, and Redis
when the executor is Celery. Appended to the READINESS slot."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.health import CheckResult
from app.models import SchedulerLease
from app.pipelines.context import system_clock


def _timed(name: str, probe: Callable[[], tuple[bool, str]]) -> CheckResult:
    started = time.perf_counter()
    try:
        ok, detail = probe()
    except Exception as exc:  # reported by name, never raised
        ok, detail = False, f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return CheckResult(name, ok, round((time.perf_counter() - started) * 1000, 2), detail)


def check_scheduler(
    sessions: sessionmaker[Session],
    stale_after_s: float = 30.0,
    clock: Callable[[], datetime] = system_clock,
) -> CheckResult:
    """Some scheduler holds the lease and heartbeated within `stale_after_s`."""

    def probe() -> tuple[bool, str]:
        now = clock()
        try:
            with sessions() as session:
                lease = session.scalars(
                    select(SchedulerLease)
                    .where(SchedulerLease.holder.is_not(None))
                    .order_by(SchedulerLease.heartbeat_at.desc())
                    .limit(1)
                ).first()
        except SQLAlchemyError:
            # The database check already fails readiness and names the cause.
            return True, "not checked: the database is unreachable"
        if lease is None or lease.heartbeat_at is None:
            return False, "no scheduler leader has taken the lease"
        age = (now - lease.heartbeat_at).total_seconds()
        if age > stale_after_s or (lease.expires_at is not None and lease.expires_at <= now):
            return False, f"leader {lease.holder} last heartbeat {age:.0f} s ago (stale)"
        return True, f"leader {lease.holder}, heartbeat {age:.1f} s ago"

    return _timed("scheduler", probe)


def check_redis(url: str, timeout_s: float = 2.0) -> CheckResult:
    """Redis answers PING (a raw RESP round trip: no client library needed)."""

    def probe() -> tuple[bool, str]:
        parts = urlsplit(url)
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout_s
        ) as sock:
            if parts.password:
                user = parts.username or "default"
                sock.sendall(_resp("AUTH", user, parts.password))
                if not sock.recv(64).startswith(b"+OK"):
                    return False, "authentication refused"
            sock.sendall(_resp("PING"))
            reply = sock.recv(64)
        return reply.startswith(b"+PONG"), reply.decode(errors="replace").strip() or "no reply"

    return _timed("redis", probe)


def _resp(*words: str) -> bytes:
    out = [f"*{len(words)}\r\n".encode()]
    for w in words:
        data = w.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def check_executor_redis(url: str, mode: Callable[[], str], timeout_s: float = 2.0) -> CheckResult:
    """Redis, while runs go to Celery. Once an operator switches to local execution the
    check says so and passes: this instance runs pipelines without Redis."""
    current = mode()
    if current != "celery":
        return CheckResult("redis", True, 0.0, f"not needed: runs execute {current}ly")
    return check_redis(url, timeout_s)


def readiness_extras(
    sessions: sessionmaker[Session],
    *,
    scheduler: bool,
    redis_url: str | None,
    executor_mode: Callable[[], str] | None = None,
    stale_after_s: float = 30.0,
    clock: Callable[[], datetime] = system_clock,
) -> list[Callable[[], CheckResult]]:
    """The checks this instance's configuration calls for. `redis_url` is given when Celery is
    the configured executor; Redis is checked while `executor_mode` (where runs execute now:
    the scheduler's executor switch, which an operator can turn to local) says celery."""
    checks: list[Callable[[], CheckResult]] = []
    if scheduler:
        checks.append(lambda: check_scheduler(sessions, stale_after_s, clock))
    if redis_url:
        url, mode = redis_url, executor_mode or (lambda: "celery")
        checks.append(lambda: check_executor_redis(url, mode))
    return checks
