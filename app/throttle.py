"""Login throttling that cannot be turned against the user (OWASP authentication guidance).

Failures are counted per account and client address together, per client address across
accounts, and per account from anywhere. Past a free allowance each key slows down with
exponential delays (never a hard lock a stranger can renew). The per-account count is enforced
only on clients that have failed recently, so the right password from a clean client keeps
working however hard someone else is guessing. Check and increment are one transaction with
the rows locked, so concurrent attempts cannot overshoot the allowance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import LoginCounter

KEY_MAX = 200


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many failures are free and how the delays grow."""

    account_free: int = 10  # per account from one client address
    address_free: int = 20  # per client address, across accounts
    window_s: int = 15 * 60  # failures older than this are forgotten
    base_delay_s: float = 1.0
    max_delay_s: float = 15 * 60.0

    def delay(self, failures: int, free: int) -> timedelta:
        """The wait after the `failures`-th failure: none within the allowance, then doubling."""
        if failures < free:
            return timedelta(0)
        return timedelta(seconds=min(self.max_delay_s, self.base_delay_s * 2 ** (failures - free)))


@dataclass(frozen=True, slots=True)
class Admission:
    """May this attempt check a password; if not, for how long; which slow-downs just began."""

    allowed: bool
    retry_after_s: int = 0
    started: tuple[str, ...] = ()


def _keys(username: str, address: str) -> tuple[str, str, str]:
    user = username.lower()[:64]
    addr = (address or "unknown")[:64]
    return f"pair:{user}|{addr}", f"addr:{addr}", f"acct:{user}"


class LoginThrottle:
    """Admits or slows sign-in attempts; `admit` before checking a password, `succeeded` after
    a right one (it takes back that attempt's count)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: ThrottlePolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.clock = clock

    def admit(self, username: str, address: str) -> Admission:
        """Count this attempt as a failure up front (taken back on success), atomically with
        the check, unless a key that applies to this client is still slowed down."""
        now = self.clock()
        pair, addr, acct = _keys(username, address)
        free = {pair: self.policy.account_free, addr: self.policy.address_free,
                acct: self.policy.account_free}  # fmt: skip
        with self.sessions() as session, session.begin():
            rows = self._lock(session, sorted(free), now)
            window_start = now - timedelta(seconds=self.policy.window_s)
            for row in rows.values():
                if row.last_at < window_start:  # forgotten: start a new window
                    row.failures, row.blocked_until = 0, None
            dirty_client = rows[pair].failures > 0 or rows[addr].failures > 0
            enforced = [pair, addr, acct] if dirty_client else [pair, addr]
            until = [rows[k].blocked_until for k in enforced]
            waits = [u - now for u in until if u is not None and u > now]
            if waits:  # refused: not counted (only a forgotten window's reset is kept)
                return Admission(
                    False, retry_after_s=max(1, int(max(waits).total_seconds() + 0.999))
                )
            started = []
            for key, row in rows.items():
                row.failures += 1
                row.last_at = now
                wait = self.policy.delay(row.failures, free[key])
                row.blocked_until = now + wait if wait else None
                if row.failures == free[key]:
                    started.append(key)
        return Admission(True, started=tuple(started))

    def succeeded(self, username: str, address: str) -> None:
        """A right password: forget this client's count for the account and take this attempt
        back from the address and account counts."""
        pair, addr, acct = _keys(username, address)
        with self.sessions() as session, session.begin():
            session.execute(
                update(LoginCounter)
                .where(LoginCounter.key == pair)
                .values(failures=0, blocked_until=None)
            )
            session.execute(
                update(LoginCounter)
                .where(LoginCounter.key.in_([addr, acct]), LoginCounter.failures > 0)
                .values(failures=LoginCounter.failures - 1)
            )

    @staticmethod
    def _lock(session: Session, keys: list[str], now: datetime) -> dict[str, LoginCounter]:
        """The rows of `keys`, created when missing, locked until the transaction ends (the
        INSERT takes SQLite's write lock; FOR UPDATE takes PostgreSQL's row locks)."""
        values = [{"key": k, "failures": 0, "last_at": now} for k in keys]
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(LoginCounter).values(values).on_conflict_do_nothing())
        rows = session.scalars(
            select(LoginCounter)
            .where(LoginCounter.key.in_(keys))
            .order_by(LoginCounter.key)
            .with_for_update()
        ).all()
        return {row.key: row for row in rows}
