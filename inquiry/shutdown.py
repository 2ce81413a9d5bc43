"""A shutdown that ends in time, and says what it had to cut short.

On SIGTERM, `inquiry serve` gives the requests in hand INQUIRY_SHUTDOWN_SECONDS to finish
(uvicorn's graceful timeout), then runs its clean-up steps (the intake writer, the outbox
worker, the database connections) within as long again, all steps together. A step that
waits on something that no longer answers (a database that stalled mid-transaction, a
connection cut while in use) would otherwise hold the process until its supervisor kills
it, and nobody would learn why. Past the deadline the step is cancelled and named in an
error line, and serve exits 1. Nothing accepted is lost by it: a visitor gets a 201 only
after the commit, and an unfinished send is retried once its lease lapses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

log = logging.getLogger(__name__)

# A step that starts at the deadline still gets this long: handing back a claimed batch or
# closing an idle connection takes milliseconds.
LAST_CHANCE_SECONDS = 0.5


class Shutdown:
    """The clean-up steps of one shutdown, all within `seconds` of its start."""

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + seconds
        self.cut_short: list[str] = []

    async def step(self, what: str, work: Awaitable[object]) -> None:
        """Await `work` until the deadline; past it, cancel it and remember `what` it was."""
        left = max(self._deadline - self._loop.time(), LAST_CHANCE_SECONDS)
        try:
            async with asyncio.timeout(left):
                await work
        except TimeoutError:
            self.cut_short.append(what)
            log.error("shutdown: %s did not finish in time and was stopped", what)
