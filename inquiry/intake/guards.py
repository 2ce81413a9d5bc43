"""Abuse guards: rate limits per client and per email, allowed origins."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable

from limits import RateLimitItem, RateLimitItemPerDay, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from inquiry.config import Settings
from inquiry.errors import RateLimited

log = logging.getLogger(__name__)


class SubmissionLimiter:
    """Counts submissions per client address and per email address."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        url = settings.rate_limit_storage_url
        # limits' asyncio storages are named async+memory://, async+redis://, ...
        scheme_url = url if url.startswith("async+") else f"async+{url}"
        self.storage: Storage = storage_from_string(scheme_url)  # type: ignore[assignment]
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._per_ip = parse_many(settings.rate_limit_per_ip)
        self._per_email = parse_many(settings.rate_limit_per_email)
        self._acknowledgements = RateLimitItemPerDay(settings.ack_max_per_address_per_day)

    async def hit_client(self, client_ip: str) -> None:
        await self._hit(self._per_ip, "ip", client_ip)

    async def hit_email(self, email: str) -> None:
        if self.enabled:
            await self._hit(self._per_email, "email", mailbox(email))

    async def acknowledgement_allowed(self, email: str) -> bool:
        """Count an acknowledgement to this mailbox; False past the day's limit.

        Anyone can type any address: without a cap the clinic would mail a stranger as often
        as someone submits. Fails open like the other limits (the visitor gets their mail).
        """
        if not self.enabled:
            return True
        try:
            return await self._limiter.hit(self._acknowledgements, "inquiry", "ack", mailbox(email))
        except Exception:  # noqa: BLE001 - the counter store is down (Redis, network)
            log.warning("rate-limit store unavailable; acknowledgement limit not applied")
            return True

    async def _hit(self, items: Iterable[RateLimitItem], scope: str, identity: str) -> None:
        if not self.enabled:
            return
        for item in items:
            try:
                allowed = await self._limiter.hit(item, "inquiry", scope, identity)
                if allowed:
                    continue
                stats = await self._limiter.get_window_stats(item, "inquiry", scope, identity)
            except Exception:  # noqa: BLE001 - the counter store is down (Redis, network)
                # Fail open: an inquiry, perhaps from someone in crisis, matters more than
                # a flood guard. Say so loudly, without the visitor's address or email.
                log.warning("rate-limit store unavailable; %s limit not applied", scope)
                return
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(headers={"Retry-After": str(retry_after)})


# Providers that deliver name.surname@ and namesurname@ to the same mailbox.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox(email: str) -> str:
    """The mailbox an address delivers to, for counting: one person's plus-addressed variants
    (and, where the provider ignores dots, dotted ones) count as one address.

    For rate limits only: two inquiries from variants of one mailbox are never linked by it.
    """
    local, _, domain = email.lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        domain = _DOTLESS_DOMAINS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def origin_allowed(origin: str, own_origins: Iterable[str], allowed: Iterable[str]) -> bool:
    origin = origin.rstrip("/")
    return origin in set(own_origins) or origin in set(allowed)
