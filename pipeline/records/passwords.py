"""Password hashing (argon2id, parameters from the settings) and the minimum strength of a new password."""

from __future__ import annotations

from typing import Any

from pipeline.core.config import AuthSettings
from pipeline.core.errors import GongkaiError

MIN_LENGTH = 12


class WeakPassword(GongkaiError):
    """A new password below the minimum strength; the message says why."""


def _hasher(auth: AuthSettings) -> Any:
    from argon2 import PasswordHasher, Type  # imported here: commands that never hash start faster

    return PasswordHasher(time_cost=auth.argon2_time_cost, memory_cost=auth.argon2_memory_kib,
                          parallelism=auth.argon2_parallelism, type=Type.ID)


def check_strength(password: str, *, login: str) -> None:
    """Refuse a password shorter than MIN_LENGTH, made of one repeated character, or containing the login."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters (this one has {len(password)})")
    if len(set(password)) < 4:
        raise WeakPassword("a password needs at least 4 different characters")
    if login and login.lower() in password.lower():
        raise WeakPassword("a password must not contain the login")


def hash_password(password: str, *, auth: AuthSettings) -> str:
    return _hasher(auth).hash(password)


def verify_password(stored: str | None, password: str, *, auth: AuthSettings) -> bool:
    """True when `password` matches; a person without a password (or with a damaged hash) never matches.
    Without a stored hash a dummy one is checked, so that an unknown login takes as long as a wrong password."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher(auth)
    try:
        return bool(hasher.verify(stored or _dummy(auth), password)) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, *, auth: AuthSettings) -> bool:
    return bool(_hasher(auth).check_needs_rehash(stored))


_DUMMIES: dict[tuple[int, int, int], str] = {}


def _dummy(auth: AuthSettings) -> str:
    key = (auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)
    if key not in _DUMMIES:
        _DUMMIES[key] = _hasher(auth).hash("no such person; this hash only costs the same time")
    return _DUMMIES[key]
