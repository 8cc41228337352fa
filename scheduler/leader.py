"""Leader election: one scheduler across every worker and host.

PostgreSQL: a session advisory lock held on a dedicated, non-pooled autocommit connection, plus
the lease row (holder, heartbeat, expiry, epoch). The lock gives mutual exclusion; the epoch,
bumped by every new leader, fences a stale one; `idle_session_timeout` on the leader's
connection makes the server drop a frozen (SIGSTOPped) leader so the lock cannot be held by a
process that no longer heartbeats. SQLite: an flock on a file in var_dir plus the same row.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_tag, utcnow
from app.models import SchedulerLease

log = logging.getLogger("dugout.scheduler.leader")
LEASE_NAME = "scheduler"
LEASE_LOCK_WAIT_MS = 5000  # a lease row still locked after this: give up and try next round


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for the lease `name`."""
    digest = hashlib.sha256(f"dugout.scheduler.leader:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def psycopg_dsn(database_url: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL (for the dedicated connections)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def host_identity() -> str:
    """Who this host is in the lease and the ledger: machine, pid and a random suffix."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaderLock(ABC):
    """Mutual exclusion plus a lease row; `epoch` is the fencing token of the current term."""

    def __init__(
        self,
        identity: str,
        *,
        lease_ttl_s: float,
        clock: Callable[[], datetime] = utcnow,
        name: str = LEASE_NAME,
    ) -> None:
        self.identity = identity
        self.lease_ttl_s = lease_ttl_s
        self.clock = clock
        self.name = name
        self.epoch = 0
        self.previous_holder: str | None = None
        self.lost_because = ""  # why the last heartbeat failed: "taken" or "unreachable"
        self.ended_sessions = 0  # open transactions of the replaced holder ended at takeover

    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock without waiting; on success bump the epoch and return True."""

    @abstractmethod
    def heartbeat(self) -> bool:
        """Renew the lease; False when leadership is lost (lock gone or a newer epoch)."""

    @abstractmethod
    def release(self) -> None:
        """Give up leadership (clear the holder, drop the lock); never raises."""

    def close(self) -> None:
        """Release and free every resource."""
        self.release()

    def end_previous_sessions(self) -> int:
        """End the open transactions of the holder this term replaced; returns how many."""
        return 0

    def _expiry(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_ttl_s)


class PostgresLeaderLock(LeaderLock):
    """Advisory lock on a dedicated autocommit psycopg connection, plus the lease row."""

    def __init__(
        self,
        dsn: str,
        identity: str,
        *,
        lease_ttl_s: float,
        idle_session_timeout_s: float,
        clock: Callable[[], datetime] = utcnow,
        name: str = LEASE_NAME,
    ) -> None:
        super().__init__(identity, lease_ttl_s=lease_ttl_s, clock=clock, name=name)
        self.dsn = dsn
        self.key = advisory_key(name)
        self.idle_session_timeout_ms = int(idle_session_timeout_s * 1000)
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=5,
                application_name=f"dugout-leader {self.identity}"[:63],
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
        return self._conn

    def try_acquire(self) -> bool:
        """pg_try_advisory_lock; the winner ends the open transactions of the holder it
        replaces (a frozen writer may hold the lease row), then claims the row with epoch + 1."""
        try:
            conn = self._connection()
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            if not row or not row[0]:
                return False
            self._held = True
            conn.execute(f"SET idle_session_timeout = {self.idle_session_timeout_ms}")
            named = conn.execute(
                "SELECT holder FROM scheduler_lease WHERE name = %s", (self.name,)
            ).fetchone()
            self.previous_holder = named[0] if named else None
            self.ended_sessions = self.end_previous_sessions()
            now = self.clock()
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = {LEASE_LOCK_WAIT_MS}")
                conn.execute(
                    "INSERT INTO scheduler_lease (name, epoch) VALUES (%s, 0) "
                    "ON CONFLICT (name) DO NOTHING",
                    (self.name,),
                )
                prev = conn.execute(
                    "SELECT holder FROM scheduler_lease WHERE name = %s FOR UPDATE", (self.name,)
                ).fetchone()
                epoch = conn.execute(
                    "UPDATE scheduler_lease SET holder = %s, epoch = epoch + 1, "
                    "heartbeat_at = %s, expires_at = %s WHERE name = %s RETURNING epoch",
                    (self.identity, now, self._expiry(now), self.name),
                ).fetchone()
            self.previous_holder = prev[0] if prev else None
            self.epoch = int(epoch[0]) if epoch else 0
            log.info(
                "became scheduler leader", extra={"holder": self.identity, "epoch": self.epoch}
            )
            return True
        except psycopg.Error as exc:
            log.warning("leader election attempt failed: %s", exc)
            self._drop()
            return False

    def heartbeat(self) -> bool:
        """Renew the lease on the lock's own connection: a dead session fails here."""
        if not self._held:
            return False
        now = self.clock()
        try:
            cur = self._connection().execute(
                "UPDATE scheduler_lease SET heartbeat_at = %s, expires_at = %s "
                "WHERE name = %s AND holder = %s AND epoch = %s",
                (now, self._expiry(now), self.name, self.identity, self.epoch),
            )
            if cur.rowcount == 1:
                return True
            log.warning("lease taken over by a newer epoch", extra={"epoch": self.epoch})
            self.lost_because = "taken"
        except psycopg.Error as exc:
            log.warning("lease heartbeat failed: %s", exc)
            self.lost_because = "unreachable"
        self._drop()
        return False

    def end_previous_sessions(self) -> int:
        """The replaced holder lost its lease without letting go (it died, froze or was cut
        off): end every transaction its process still has open, so a frozen writer's row
        locks cannot stall this leader (PostgreSQL's own idle timeout misses some of them)."""
        previous = self.previous_holder
        if not self._held or not previous or previous.count(":") < 2:
            return 0
        host, pid = previous.rsplit(":", 2)[:2]
        tag = session_tag(host, int(pid)) if pid.isdigit() else ""
        if not tag or tag == session_tag():
            return 0
        try:
            rows = (
                self._connection()
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = %s "
                    "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()",
                    (tag,),
                )
                .fetchall()
            )
        except psycopg.Error as exc:
            log.warning("could not end the previous leader's sessions: %s", exc)
            return 0
        ended = sum(1 for (done,) in rows if done)
        if ended:
            log.warning(
                "ended the previous leader's open transactions",
                extra={"previous": previous, "sessions": ended},
            )
        return ended

    def release(self) -> None:
        """Clear the holder and unlock, then close the connection (the lock goes with it)."""
        if self._held and self._conn is not None and not self._conn.closed:
            try:
                self._conn.execute(
                    "UPDATE scheduler_lease SET holder = NULL, expires_at = %s "
                    "WHERE name = %s AND holder = %s AND epoch = %s",
                    (self.clock(), self.name, self.identity, self.epoch),
                )
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except psycopg.Error as exc:
                log.warning("lease release failed: %s", exc)
        self._drop()

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class FileLeaderLock(LeaderLock):
    """SQLite (one machine): an exclusive flock on var_dir/scheduler.lock, plus the lease row."""

    def __init__(
        self,
        path: Path,
        sessions: sessionmaker[Session],
        identity: str,
        *,
        lease_ttl_s: float,
        clock: Callable[[], datetime] = utcnow,
        name: str = LEASE_NAME,
    ) -> None:
        super().__init__(identity, lease_ttl_s=lease_ttl_s, clock=clock, name=name)
        self.path = path
        self.sessions = sessions
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """flock(LOCK_EX | LOCK_NB); the winner claims the lease row with epoch + 1."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        try:
            now = self.clock()
            with self.sessions.begin() as session:
                lease = session.get(SchedulerLease, self.name)
                if lease is None:
                    lease = SchedulerLease(name=self.name, epoch=0)
                    session.add(lease)
                self.previous_holder = lease.holder
                lease.holder, lease.epoch = self.identity, (lease.epoch or 0) + 1
                lease.heartbeat_at, lease.expires_at = now, self._expiry(now)
                self.epoch = lease.epoch
        except Exception as exc:
            log.warning("could not claim the lease: %s", exc)
            self._unlock()
            return False
        log.info("became scheduler leader", extra={"holder": self.identity, "epoch": self.epoch})
        return True

    def heartbeat(self) -> bool:
        """Renew the lease row while it still names this holder and epoch."""
        if self._fd is None:
            return False
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                lease = session.get(SchedulerLease, self.name)
                if lease is None or lease.holder != self.identity or lease.epoch != self.epoch:
                    log.warning("lease taken over", extra={"epoch": self.epoch})
                    self.lost_because = "taken"
                    self._unlock()
                    return False
                lease.heartbeat_at, lease.expires_at = now, self._expiry(now)
            return True
        except Exception as exc:
            log.warning("lease heartbeat failed: %s", exc)
            self.lost_because = "unreachable"
            self._unlock()
            return False

    def release(self) -> None:
        """Clear the holder and drop the file lock."""
        if self._fd is None:
            return
        try:
            with self.sessions.begin() as session:
                lease = session.get(SchedulerLease, self.name)
                if lease is not None and lease.holder == self.identity:
                    lease.holder, lease.expires_at = None, self.clock()
        except Exception as exc:
            log.warning("lease release failed: %s", exc)
        self._unlock()

    def _unlock(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
