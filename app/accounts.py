"""Accounts: the one account-change service (admin page and CLI alike) over the account store.

Every change goes the same way whoever asks: the actor must be an admin (or the CLI, whose
operator already holds the database), a reason is required, the audit record is written FIRST
and the change is refused when it cannot be, then the change, then its outcome record.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.audit import (
    OUTCOME_DENIED,
    OUTCOME_REFUSED,
    OUTCOME_REQUESTED,
    OUTCOME_SUCCEEDED,
    AuditEntry,
    AuditLog,
    AuditWriteError,
    ReasonError,
    append_audit,
    check_reason,
)
from app.db import utcnow
from app.models import ROLES, User, UserSession
from app.passwords import WeakPasswordError, hash_password

log = logging.getLogger("dugout.accounts")

USERNAME_MAX = 64
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
CLI_ROLE = "cli"  # the `dugout` command's operator: holds the database, so acts as admin
ACCOUNT_ACTIONS = ("add", "set_role", "disable", "enable", "reset_password", "issue_token")


class UserError(ValueError):
    """An account operation that cannot be done, with a message for the person asking."""


def role_allows(role: str | None, required: str) -> bool:
    """True when `role` is at least `required` in viewer < operator < admin."""
    return ROLE_RANK.get(role or "", 0) >= ROLE_RANK[required]


# --- the account store: primitives the service (and test fixtures) build on --------------------


def _check_role(role: str) -> None:
    if role not in ROLE_RANK:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")


def find_user(session: Session, username: str) -> User | None:
    """The user with this username (case-insensitive), or None."""
    if len(username) > USERNAME_MAX:
        return None
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def add_user(session: Session, username: str, password: str, role: str = "viewer") -> User:
    """Create an account; refuses bad names, weak passwords, unknown roles and duplicates."""
    if not _USERNAME.match(username):
        raise UserError("username must be 2-64 letters, digits or . _ @ -")
    _check_role(role)
    if find_user(session, username) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def _require(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise UserError(f"no user named {username!r}")
    return user


def revoke_sessions(session: Session, user: User) -> int:
    """Revoke every live session of `user`; returns how many."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_role(session: Session, username: str, role: str) -> User:
    """Change a user's role; their sessions are revoked so the new role applies at once."""
    _check_role(role)
    user = _require(session, username)
    user.role = role
    revoke_sessions(session, user)
    return user


def set_active(session: Session, username: str, active: bool) -> User:
    """Enable or disable an account; disabling revokes its sessions."""
    user = _require(session, username)
    user.is_active = active
    if not active:
        revoke_sessions(session, user)
    return user


def reset_password(session: Session, username: str, password: str | None = None) -> str:
    """Set a new password (random when none given) and revoke sessions; returns the password."""
    user = _require(session, username)
    password = password or generate_password()
    user.password_hash = hash_password(password)
    revoke_sessions(session, user)
    return password


def generate_password() -> str:
    """A random password for first runs and resets."""
    return secrets.token_urlsafe(15)


def issue_api_token(session: Session, username: str) -> str:
    """A new API token for `username` (shown once; only its SHA-256 is stored)."""
    user = _require(session, username)
    token = "dgt_" + secrets.token_urlsafe(32)
    user.api_token_hash = hash_token(token)
    return token


def hash_token(token: str) -> str:
    """SHA-256 of an API token (tokens are random, so no slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- the service ---------------------------------------------------------------------------------


class AccountRefused(Exception):
    """The change was not made; `str(exc)` is a sentence for the person asking."""

    status = 400


class AccountPermissionDenied(AccountRefused):
    """The actor may not change accounts."""

    status = 403


class AccountAuditUnavailable(AccountRefused):
    """The audit record could not be written, so nothing was changed."""

    status = 503


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change and from where (carried into every audit record)."""

    name: str
    role: str | None
    source_ip: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None

    @classmethod
    def from_meta(cls, name: str, role: str | None, meta: dict[str, Any]) -> Actor:
        """An actor with the request's source address, user agent and correlation id."""
        return cls(
            name, role, meta.get("source_ip"), meta.get("user_agent"), meta.get("correlation_id")
        )


@dataclass(frozen=True, slots=True)
class AccountResult:
    """What the change did, as a sentence, and a password or token to show exactly once."""

    message: str
    secret: str | None = None


class AccountService:
    """Every account change, audited first: add, set role, enable/disable, reset, token."""

    def __init__(self, audit: AuditLog, actor: Actor) -> None:
        self._audit_log = audit
        self._sessions = audit.sessions
        self._actor = actor

    def add(
        self, username: str, role: str, reason: str | None, password: str | None = None
    ) -> AccountResult:
        """Create an account (a random password, shown once, when none is given)."""
        chosen = password or generate_password()

        def change(session: Session) -> AccountResult:
            add_user(session, username, chosen, role)
            return AccountResult(f"Added {username} as {role}.", None if password else chosen)

        return self._change("add", username, role, reason, change)

    def set_role(self, username: str, role: str, reason: str | None) -> AccountResult:
        """Change a role; the user's sessions end so the new role applies at once."""

        def change(session: Session) -> AccountResult:
            set_role(session, username, role)
            return AccountResult(f"{username} is now {role}; their sessions were ended.")

        return self._change("set_role", username, role, reason, change)

    def set_active(self, username: str, active: bool, reason: str | None) -> AccountResult:
        """Enable or disable an account (disabling ends its sessions)."""
        action = "enable" if active else "disable"

        def change(session: Session) -> AccountResult:
            set_active(session, username, active)
            return AccountResult(f"{username} {action}d.")

        return self._change(action, username, None, reason, change)

    def reset_password(
        self, username: str, reason: str | None, password: str | None = None
    ) -> AccountResult:
        """Set a new password (random and shown once when none is given); sessions end."""

        def change(session: Session) -> AccountResult:
            new = reset_password(session, username, password)
            if password:
                return AccountResult(f"Password of {username} changed.")
            return AccountResult(f"New password for {username}.", new)

        return self._change("reset_password", username, None, reason, change)

    def issue_token(self, username: str, reason: str | None) -> AccountResult:
        """A new API token for `username`, shown once (it replaces the previous one)."""

        def change(session: Session) -> AccountResult:
            return AccountResult(
                f"New API token for {username}.", issue_api_token(session, username)
            )

        return self._change("issue_token", username, None, reason, change)

    def _change(
        self,
        action: str,
        username: str,
        role: str | None,
        reason: str | None,
        change: Callable[[Session], AccountResult],
    ) -> AccountResult:
        """Check, audit first, change, audit the outcome: the same steps for every change."""
        audit_action = f"user_{action}"
        target = f"{username}:{role}" if role is not None else username
        actor = self._actor
        if actor.role != CLI_ROLE and not role_allows(actor.role, "admin"):
            error: AccountRefused = AccountPermissionDenied(
                "changing accounts needs the admin role."
            )
            self._audit_refusal(audit_action, OUTCOME_DENIED, target, str(error))
            raise error
        try:
            reason = check_reason(reason)
        except ReasonError as exc:
            self._audit_refusal(audit_action, OUTCOME_REFUSED, target, str(exc))
            raise AccountRefused(str(exc)) from exc
        if action in ("set_role", "disable") and username.lower() == actor.name.lower():
            error = AccountRefused(
                "you cannot demote or disable your own account here (use the CLI)"
            )
            self._audit_refusal(audit_action, OUTCOME_REFUSED, target, str(error))
            raise error
        try:  # audited first: without its record the change does not happen
            request_seq = self._audit(audit_action, OUTCOME_REQUESTED, target, reason)
        except AuditWriteError as exc:
            raise AccountAuditUnavailable(
                "the audit log is unavailable, so nothing was changed."
            ) from exc
        try:
            with self._sessions() as session, session.begin():
                result = change(session)
        except (UserError, WeakPasswordError) as exc:
            self._audit_refusal(audit_action, OUTCOME_REFUSED, target, str(exc), request_seq)
            raise AccountRefused(str(exc)) from exc
        try:
            self._audit(audit_action, OUTCOME_SUCCEEDED, target, reason, request_seq)
        except AuditWriteError:  # the change is made and its request is on record
            log.error("account change made but its outcome record failed", extra={"action": action})
        return result

    def _audit(
        self,
        action: str,
        outcome: str,
        target: str,
        reason: str | None,
        request_seq: int | None = None,
    ) -> int:
        """Append a record (its seq); an outcome names its request's seq."""
        actor = self._actor
        return append_audit(
            self._audit_log,
            AuditEntry(
                actor=actor.name,
                role=actor.role,
                action=action,
                outcome=outcome,
                target=target,
                reason=reason,
                source_ip=actor.source_ip,
                user_agent=actor.user_agent,
                correlation_id=actor.correlation_id,
                request_seq=request_seq,
            ),
        ).seq

    def _audit_refusal(
        self, action: str, outcome: str, target: str, why: str, request_seq: int | None = None
    ) -> None:
        """Record a refusal (best effort: the refusal stands even when its record fails)."""
        try:
            self._audit(action, outcome, target, why, request_seq)
        except AuditWriteError:
            log.error("refused account change could not be audited", extra={"action": action})
