"""What `inquiry outbox` and the console's Mail page show and do: list messages, count them by
status, requeue dead ones (waking the workers); and the backlog that the metrics report."""

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
    async with engine.connect() as connection:
        return await messages(connection, status=status, limit=limit)


async def messages(
    connection: AsyncConnection,
    *,
    status: OutboxStatus | None = None,
    reference: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Messages newest first (with their inquiry's reference), of one status or inquiry."""
    table = outbox_table
    query = (
        sa.select(table, inquiry_table.c.reference)
        .join(inquiry_table, inquiry_table.c.id == table.c.inquiry_id)
        .order_by(table.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(table.c.status == status.value)
    if reference is not None:
        query = query.where(inquiry_table.c.reference == reference)
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
    """Queue a dead message again, with a fresh lifetime (its queue time restarts now)."""
    async with engine.begin() as connection:
        return bool(await requeue_dead(connection, [message_pk], now=now))


async def requeue_dead(
    connection: AsyncConnection, message_pks: list[int] | None, *, now: datetime
) -> list[int]:
    """Queue these dead messages (None: every dead one) again with a fresh lifetime, in the
    connection's transaction, and wake the workers when it commits; the ids requeued."""
    table = outbox_table
    query = sa.update(table).where(table.c.status == OutboxStatus.DEAD.value)
    if message_pks is not None:
        query = query.where(table.c.id.in_(message_pks))
    result = await connection.execute(
        query.values(
            status=OutboxStatus.PENDING.value,
            next_attempt_at=now,
            created_at=now,
            claimed_until=None,
        ).returning(table.c.id)
    )
    requeued = sorted(result.scalars())
    if requeued:
        await connection.run_sync(wake_workers)
    return requeued
