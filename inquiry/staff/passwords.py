"""Argon2id password hashes, computed off the event loop (each one takes tens of milliseconds)."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from inquiry.errors import InvalidPassword

MAX_LENGTH = 1024  # hashing megabytes of "password" is a denial of service, not a password

_hasher = PasswordHasher()  # Argon2id with the RFC 9106 low-memory parameters


def check_strength(password: str, min_length: int) -> None:
    """Refuse passwords too short (or absurdly long) to be kept."""
    if len(password) < min_length:
        raise InvalidPassword(f"The password needs at least {min_length} characters.")
    if len(password) > MAX_LENGTH:
        raise InvalidPassword(f"The password may have at most {MAX_LENGTH} characters.")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; an account without a password never matches."""
    return await asyncio.to_thread(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified when the email is unknown, so that a miss takes as long as a wrong password."""
    return _hasher.hash("not-a-password-of-anyone")


def _verify(password_hash: str | None, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
