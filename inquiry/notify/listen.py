"""Wake a worker in another process when intake commits outbox rows (PostgreSQL LISTEN)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from inquiry.outbox import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 5.0


@asynccontextmanager
async def outbox_notifications(database_url: str, wake: Callable[[], None]) -> AsyncIterator[None]:
    """While open, every NOTIFY on the outbox channel calls `wake` (PostgreSQL only).

    The LISTEN connection is kept up: if the server restarts, it reconnects, and wakes the
    worker once on reconnecting, for anything committed while nobody was listening.
    """
    url = make_url(database_url).set(drivername="postgresql")
    listening = asyncio.create_task(
        _listen(url.render_as_string(hide_password=False), wake), name="outbox-listen"
    )
    try:
        yield
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening


async def _listen(dsn: str, wake: Callable[[], None]) -> None:
    def on_notify(*_: Any) -> None:
        wake()

    while True:
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(dsn)
            lost = asyncio.Event()
            connection.add_termination_listener(lambda *_, event=lost: event.set())
            await connection.add_listener(OUTBOX_CHANNEL, on_notify)
            log.info("listening for new outbox rows on %s", OUTBOX_CHANNEL)
            wake()
            await lost.wait()
            log.warning("outbox LISTEN connection lost; reconnecting")
        except Exception as error:  # noqa: BLE001 - any failure: poll, and listen again soon
            # Not only connection errors: a connection cut mid-operation can also leave the
            # driver's own state errors (InternalClientError), which must not end listening.
            log.warning("outbox LISTEN unavailable (%s); polling meanwhile", type(error).__name__)
        finally:
            if connection is not None and not connection.is_closed():
                connection.terminate()
        await asyncio.sleep(RECONNECT_SECONDS)
