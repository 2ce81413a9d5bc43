"""What `inquiry outbox` shows and does: list messages, count them by status, requeue a dead one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.models import OutboxStatus, inquiry_table, outbox_table


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
    """Queue a dead message again, with a fresh lifetime (its queue time restarts now)."""
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
        return bool(result.rowcount)
