"""Wake a worker in another process when intake commits outbox rows (PostgreSQL LISTEN)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from inquiry.intake.writer import OUTBOX_CHANNEL

log = logging.getLogger(__name__)


@asynccontextmanager
async def outbox_notifications(database_url: str, wake: Callable[[], None]) -> AsyncIterator[None]:
    """While open, every NOTIFY on the outbox channel calls `wake` (PostgreSQL only)."""
    url = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))

    def on_notify(*_: Any) -> None:
        wake()

    await connection.add_listener(OUTBOX_CHANNEL, on_notify)
    log.info("listening for new outbox rows on %s", OUTBOX_CHANNEL)
    try:
        yield
    finally:
        await connection.remove_listener(OUTBOX_CHANNEL, on_notify)
        await connection.close()
