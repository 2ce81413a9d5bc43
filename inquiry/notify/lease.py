"""A batch's hold on its outbox rows while the worker sends them, and the heartbeat that
renews it.

A lease lasts INQUIRY_OUTBOX_LEASE_SECONDS from the claim or its last renewal, by the
database's clock. The heartbeat renews every batch in hand each INQUIRY_OUTBOX_HEARTBEAT_SECONDS,
so a send may take longer than a lease while the rows of a worker that died return within
one. The worker keeps its own deadline: its clock read before the claim or the renewal, plus
the lease. That deadline comes no later than the database's end of the lease, whatever the
worker's clock says the time is (only differences of it are used), and no send runs past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry import outbox

log = logging.getLogger(__name__)

# No send may still be running this close to its lease's end (a fifth of a short lease).
MARGIN_SECONDS = 5.0


class Lease:
    """One claim's hold: its token, the rows not yet written, and until when (by the worker's
    clock) it may send on them."""

    def __init__(self, token: str, message_ids: Iterable[int], deadline: datetime) -> None:
        self.token = token
        self.outstanding = set(message_ids)
        self.deadline = deadline
        # The send in progress, whose time limit moves when the lease is renewed.
        self.send_scope: asyncio.Timeout | None = None

    def send_left(self, now: datetime, margin: timedelta) -> float:
        """Seconds a send may still take before the lease nears its end."""
        return (self.deadline - margin - now).total_seconds()

    def written(self, message_ids: Iterable[int]) -> None:
        self.outstanding.difference_update(message_ids)


class Heartbeat:
    """Renews the leases of the batches in hand while a drain runs."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        every_seconds: float,
        lease_seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._engine = engine
        self._every = every_seconds
        self._lease_seconds = lease_seconds
        self.length = timedelta(seconds=lease_seconds)
        self.margin = timedelta(seconds=min(MARGIN_SECONDS, lease_seconds / 5))
        self._clock = clock
        self._held: set[Lease] = set()

    def lease(self, token: str, message_ids: Iterable[int], claimed_at: datetime) -> Lease:
        """The lease of rows claimed at `claimed_at` (the worker's clock, read before the
        claim), renewed from now on until all its rows are written or `drop` is called."""
        lease = Lease(token, message_ids, claimed_at + self.length)
        if lease.outstanding:
            self._held.add(lease)
        return lease

    def written(self, lease: Lease, message_ids: Iterable[int]) -> None:
        lease.written(message_ids)
        if not lease.outstanding:
            self._held.discard(lease)

    def tokens(self) -> list[str]:
        """The tokens of the leases in hand: their rows are not this worker's to claim."""
        return [lease.token for lease in self._held]

    def drop(self, lease: Lease) -> None:
        self._held.discard(lease)

    @contextlib.asynccontextmanager
    async def beating(self) -> AsyncIterator[None]:
        """Renew the leases in hand until the block ends; then none is renewed any more."""
        task = asyncio.create_task(self._beat(), name="outbox-heartbeat")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._held.clear()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            for lease in list(self._held):
                try:
                    await self.renew(lease)
                except Exception:  # noqa: BLE001 - the heartbeat must outlive any one renewal
                    log.exception("renewing an outbox lease failed unexpectedly")

    async def renew(self, lease: Lease) -> bool:
        """Extend one lease; False if the database could not be reached or it had lapsed."""
        started = self._clock()
        try:
            async with outbox.transaction(self._engine) as connection:
                await outbox.renew(
                    connection,
                    lease.outstanding,
                    token=lease.token,
                    lease_seconds=self._lease_seconds,
                )
        except Exception as error:  # noqa: BLE001 - the next beat tries again
            log.warning(
                "could not renew an outbox lease (%s); sending stops at its end unless a "
                "renewal gets through",
                type(error).__name__,
            )
            return False
        now = self._clock()
        if now >= lease.deadline:
            # Renewed too late: its rows may have been claimed again meanwhile. Those still
            # carrying its token are renewed, but the worker sends no more on it.
            return False
        lease.deadline = started + self.length
        scope = lease.send_scope
        # A limit already reached is ending its send (a timeout can no longer be moved then).
        if scope is not None and not scope.expired():
            loop_now = asyncio.get_running_loop().time()
            scope.reschedule(loop_now + max(0.0, lease.send_left(now, self.margin)))
        return True
