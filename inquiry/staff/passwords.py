"""Argon2id password hashes, computed off the event loop (each one takes tens of milliseconds)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from inquiry.errors import InvalidPassword, SignInBusy

log = logging.getLogger(__name__)

MAX_LENGTH = 1024  # hashing megabytes of "password" is a denial of service, not a password

_hasher = PasswordHasher()  # Argon2id with the RFC 9106 low-memory parameters

T = TypeVar("T")


# zxcvbn's scores: 3 is "safely unguessable" (about 10^8 guesses and more).
_SCORES = ("very easy", "easy", "fairly easy", "fairly hard", "hard")


async def check_strength(
    password: str, min_length: int, *, min_score: int, user_inputs: Iterable[str] = ()
) -> None:
    """Refuse passwords too short, absurdly long, or easy to guess.

    Easy to guess is judged offline by zxcvbn: common and breached passwords (its bundled
    lists), words, names, dates, keyboard rows, repeats and sequences, and the account's own
    details (`user_inputs`); length alone lets "Password1234!" through.
    """
    if len(password) < min_length:
        raise InvalidPassword(f"The password needs at least {min_length} characters.")
    if len(password) > MAX_LENGTH:
        raise InvalidPassword(f"The password may have at most {MAX_LENGTH} characters.")
    if min_score <= 0:
        return
    score, warning = await asyncio.to_thread(_estimate, password, list(user_inputs))
    if score < min_score:
        why = f" {warning}" if warning else ""
        raise InvalidPassword(
            f"This password is {_SCORES[score]} to guess.{why} Choose a longer phrase of "
            "unrelated words."
        )


def _estimate(password: str, user_inputs: list[str]) -> tuple[int, str]:
    from zxcvbn import zxcvbn  # its lists take a tenth of a second to load: on first use

    # Past 72 characters zxcvbn refuses to look (its matching grows with the square).
    result = zxcvbn(password[:72], user_inputs=[word for word in user_inputs if word])
    return int(result["score"]), str(result["feedback"]["warning"])


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; an account without a password never matches."""
    return await asyncio.to_thread(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


class PasswordChecks:
    """The Argon2 work of signing in: a few at a time, at the lowest CPU priority.

    An Argon2 check keeps every core busy for tens of milliseconds (four lanes, each on a
    thread of its own). Unbounded, a flood of sign-ins took the cores from intake: its median
    went from 4 ms to 108 ms. Here at most `concurrent` checks run, on threads the scheduler
    runs only when nothing else wants the core (Linux: nice 19, which Argon2's own threads
    inherit), and past `waiting` queued ones sign-in answers 503 at once.
    """

    def __init__(self, *, concurrent: int, waiting: int) -> None:
        self._limit = concurrent + waiting
        self._pending = 0
        self._executor = ThreadPoolExecutor(
            max_workers=concurrent, thread_name_prefix="password", initializer=_lowest_priority
        )

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """verify_password(), within the cap."""
        return await self.run(_verify, password_hash, password)

    async def hash(self, password: str) -> str:
        """hash_password(), within the cap."""
        return await self.run(_hasher.hash, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """Run `work(*args)` on one of the password threads; SignInBusy when too many wait."""
        if self._pending >= self._limit:
            raise SignInBusy(headers={"Retry-After": "1"})
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            self._pending -= 1


def _lowest_priority() -> None:
    # On Linux the nice value belongs to each thread, and threads it starts inherit it.
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except OSError:
        log.debug("password threads keep the normal CPU priority")


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
