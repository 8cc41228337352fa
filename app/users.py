"""Account management shared by the CLI and the admin page."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import ROLES, User, UserSession
from app.passwords import hash_password

_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


class UserError(ValueError):
    """An account operation that cannot be done, with a message for the person asking."""


def role_allows(role: str | None, required: str) -> bool:
    """True when `role` is at least `required` in viewer < operator < admin."""
    return ROLE_RANK.get(role or "", 0) >= ROLE_RANK[required]


def _check_role(role: str) -> None:
    if role not in ROLE_RANK:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")


def find_user(session: Session, username: str) -> User | None:
    """The user with this username (case-insensitive), or None."""
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
