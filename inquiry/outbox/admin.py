"""What `inquiry outbox` shows and does: list messages, count them by status, requeue a dead
one; and the backlog that the metrics report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inquiry.models import OutboxStatus, as_utc, inquiry_table, outbox_table
from inquiry.outbox.queueing import wake_workers

# Sent rows are every message ever sent: counting them would read the whole history.
BACKLOG_STATUSES = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.DEAD)
_UNDELIVERED = frozenset({OutboxStatus.PENDING.value, OutboxStatus.SENDING.value})
# Read through the status index (its leading column), never the sent history.
_BACKLOG = (
    sa.select(outbox_table.c.status, sa.func.count(), sa.func.min(outbox_table.c.created_at))
    .where(outbox_table.c.status.in_([status.value for status in BACKLOG_STATUSES]))
    .group_by(outbox_table.c.status)
)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Messages not sent, by status, and when the oldest one not yet delivered was queued."""

    counts: dict[str, int]
    oldest_undelivered: datetime | None


async def backlog(connection: AsyncConnection) -> Backlog:
    """Pending, sending and dead messages, in one cheap query (for the metrics' gauges)."""
    counts = {status.value: 0 for status in BACKLOG_STATUSES}
    oldest: datetime | None = None
    for status, count, first in await connection.execute(_BACKLOG):
        counts[status] = int(count)
        if status in _UNDELIVERED and first is not None:
            first = as_utc(first)
            oldest = first if oldest is None or first < oldest else oldest
    return Backlog(counts, oldest)


async def list_messages(
    engine: AsyncEngine, *, status: OutboxStatus | None, limit: int = 100
) -> list[dict[str, Any]]:
    table = outbox_table
    query = (
        sa.select(table, inquiry_table.c.reference)
        .join(inquiry_table, inquiry_table.c.id == table.c.inquiry_id)
        .order_by(table.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(table.c.status == status.value)
    async with engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(query)]


async def counts(engine: AsyncEngine) -> dict[str, int]:
    table = outbox_table
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
        )
        found = {str(status): int(number) for status, number in rows}
    return {status.value: found.get(status.value, 0) for status in OutboxStatus}


async def requeue(engine: AsyncEngine, message_pk: int, *, now: datetime) -> bool:
    """Queue a dead message again, with a fresh lifetime (its queue time restarts now), and
    wake the workers when that commits (PostgreSQL; on SQLite they find it at their next poll)."""
    table = outbox_table
    async with engine.begin() as connection:
        result = await connection.execute(
            sa.update(table)
            .where(table.c.id == message_pk, table.c.status == OutboxStatus.DEAD.value)
            .values(
                status=OutboxStatus.PENDING.value,
                next_attempt_at=now,
                created_at=now,
                claimed_until=None,
            )
        )
        if not result.rowcount:
            return False
        await connection.run_sync(wake_workers)
        return True
