"""Failed sign-ins are counted per email and client address; past the limit, sign-in waits."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from inquiry.config import Settings
from inquiry.errors import LoginThrottled


class LoginThrottle:
    """Shares the rate-limit storage of intake (memory, or Redis across replicas)."""

    def __init__(self, settings: Settings) -> None:
        url = settings.rate_limit_storage_url
        scheme_url = url if url.startswith("async+") else f"async+{url}"
        self.storage: Storage = storage_from_string(scheme_url)  # type: ignore[assignment]
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._item = RateLimitItemPerMinute(
            settings.staff_login_max_failures, settings.staff_login_window_minutes
        )

    async def check(self, email: str, client_ip: str) -> None:
        """Raise LoginThrottled once this email and address have failed too often."""
        if await self._limiter.test(self._item, *self._key(email, client_ip)):
            return
        stats = await self._limiter.get_window_stats(self._item, *self._key(email, client_ip))
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise LoginThrottled(headers={"Retry-After": str(retry_after)})

    async def failed(self, email: str, client_ip: str) -> None:
        await self._limiter.hit(self._item, *self._key(email, client_ip))

    async def succeeded(self, email: str, client_ip: str) -> None:
        await self._limiter.clear(self._item, *self._key(email, client_ip))

    @staticmethod
    def _key(email: str, client_ip: str) -> tuple[str, ...]:
        return ("staff-login", email.lower(), client_ip)
