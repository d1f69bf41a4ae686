"""Password hashing with argon2id (RFC 9106), and the rules a new password must meet.

argon2id is memory-hard, so a stolen users table costs an attacker real hardware per guess, and
the hash string carries its own salt and parameters (``$argon2id$v=19$m=...``), so stronger
parameters can be introduced later: :func:`verify_password` reports when a stored hash should be
re-computed with the current ones, and the login path does that on the next successful login.

Parameters are the RFC 9106 "second recommended option" (64 MiB, 3 passes, 4 lanes). Tests pass a
cheaper :class:`argon2.PasswordHasher` through ``hasher=`` so they stay fast; the type is always
argon2id.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

DEFAULT_HASHER = PasswordHasher(
    time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16, type=Type.ID
)

# A hash of a random password, verified against when the user does not exist so that a login for
# an unknown name takes as long as one for a known name (no user enumeration by timing).
_DUMMY_HASH: dict[int, str] = {}


class PasswordPolicyError(ValueError):
    """A new password does not meet the policy (the message says which rule)."""


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    needs_rehash: bool = False


def hash_password(password: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    """An argon2id hash string (salted, parameters embedded)."""
    if hasher.type is not Type.ID:
        raise ValueError("storelens stores argon2id hashes only")
    return hasher.hash(password)


def verify_password(stored_hash: str, password: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> PasswordCheck:
    """Whether ``password`` matches ``stored_hash``; never raises for a wrong or malformed hash."""
    try:
        hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(False)
    if not stored_hash.startswith("$argon2id$"):
        return PasswordCheck(False)
    return PasswordCheck(True, hasher.check_needs_rehash(stored_hash))


def burn_verification(password: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> None:
    """Spend the time of one verification (for unknown users), result ignored."""
    key = id(hasher)
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hasher.hash("storelens-dummy-password-for-timing")
    verify_password(_DUMMY_HASH[key], password, hasher=hasher)


def check_password_policy(password: str, *, min_length: int = 12, username: str | None = None) -> None:
    """Length is what matters most (NIST SP 800-63B); also refuse the user name and one-character
    repeats. Raises :class:`PasswordPolicyError` naming the rule broken."""
    if len(password) < min_length:
        raise PasswordPolicyError(f"password must be at least {min_length} characters")
    if len(password) > 1024:
        raise PasswordPolicyError("password must be at most 1024 characters")
    if len(set(password)) < 4:
        raise PasswordPolicyError("password must use at least 4 different characters")
    if username and username.lower() in password.lower():
        raise PasswordPolicyError("password must not contain the user name")
