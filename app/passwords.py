"""argon2id password hashing at OWASP's minimum profile (m=19 MiB, t=2, p=1)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A real hash of a random password: verifying against it costs what a real check costs, so an
# unknown username takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("dugout-timing-equaliser")
MIN_PASSWORD_LENGTH = 12


class WeakPasswordError(ValueError):
    """The password does not meet the minimum length."""


def hash_password(password: str) -> str:
    """An argon2id hash of `password`; refuses passwords shorter than the minimum."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; always does one full hash so timing reveals nothing."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
