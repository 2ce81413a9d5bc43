"""Failed sign-ins, counted three ways; past any limit, sign-in waits.

Per email and client address (a person mistyping), per account from any address (guessing
one account's password from many addresses), and per address across accounts (one address
trying many accounts). A success clears only the count of its email and address, so a
guesser cannot clear the other two by signing in to an account of their own.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from inquiry.config import Settings
from inquiry.errors import LoginThrottled, SignInUnavailable

log = logging.getLogger(__name__)

Key = tuple[str, ...]


class LoginThrottle:
    """Shares the rate-limit storage of intake (memory, or Redis across replicas).

    Unlike intake, sign-in fails closed: without its counters, passwords could be guessed
    at full speed, so a store that cannot be reached answers 503.
    """

    def __init__(self, settings: Settings) -> None:
        url = settings.rate_limit_storage_url
        scheme_url = url if url.startswith("async+") else f"async+{url}"
        self.storage: Storage = storage_from_string(scheme_url)  # type: ignore[assignment]
        self._limiter = MovingWindowRateLimiter(self.storage)
        window = settings.staff_login_window_minutes
        self._pair = RateLimitItemPerMinute(settings.staff_login_max_failures, window)
        self._account = RateLimitItemPerMinute(
            settings.staff_login_max_failures_per_account, window
        )
        self._address = RateLimitItemPerMinute(
            settings.staff_login_max_failures_per_address, window
        )

    async def check(self, email: str, client_ip: str) -> None:
        """Raise LoginThrottled once this email, this account or this address failed too often."""
        try:
            waits = [
                await self._wait(item, key)
                for item, key in self._counters(email, client_ip)
                if not await self._limiter.test(item, *key)
            ]
        except Exception as error:  # noqa: BLE001 - the counter store is down (Redis, network)
            raise _unavailable(error) from error
        if waits:
            raise LoginThrottled(headers={"Retry-After": str(max(waits))})

    async def failed(self, email: str, client_ip: str) -> None:
        try:
            for item, key in self._counters(email, client_ip):
                await self._limiter.hit(item, *key)
        except Exception as error:  # noqa: BLE001
            raise _unavailable(error) from error

    async def succeeded(self, email: str, client_ip: str) -> None:
        item, key = self._counters(email, client_ip)[0]
        try:
            await self._limiter.clear(item, *key)
        except Exception as error:  # noqa: BLE001
            raise _unavailable(error) from error

    def _counters(self, email: str, client_ip: str) -> list[tuple[RateLimitItem, Key]]:
        email = email.lower()
        return [
            (self._pair, ("staff-login", email, client_ip)),
            (self._account, ("staff-login-account", email)),
            (self._address, ("staff-login-address", client_ip)),
        ]

    async def _wait(self, item: RateLimitItem, key: Key) -> int:
        stats = await self._limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _unavailable(error: Exception) -> SignInUnavailable:
    log.error("sign-in refused: the rate-limit store is unavailable (%s)", type(error).__name__)
    return SignInUnavailable(headers={"Retry-After": "30"})
