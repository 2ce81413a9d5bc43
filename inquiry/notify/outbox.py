"""The outbox life cycle: claim due rows under a lease, record results, requeue dead ones."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inquiry.models import OUTBOX_CLAIMABLE, OutboxStatus, inquiry_table, outbox_table

log = logging.getLogger(__name__)

_MESSAGE_COLUMNS = (
    outbox_table.c.id,
    outbox_table.c.inquiry_id,
    outbox_table.c.kind,
    outbox_table.c.recipient,
    outbox_table.c.message_id,
    outbox_table.c.urgent,
    outbox_table.c.attempts,
    outbox_table.c.created_at,
)


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    inquiry_id: int
    kind: str
    recipient: str
    message_id: str
    urgent: bool
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one claimed message."""

    message: ClaimedMessage
    status: OutboxStatus  # SENT, PENDING (retry) or DEAD
    error: str | None = None
    next_attempt_at: datetime | None = None


def _may_claim(now: datetime) -> sa.ColumnElement[bool]:
    """Due rows, and rows whose worker's lease lapsed."""
    table = outbox_table
    return sa.and_(
        # Implied by what follows, but spelled out: the claim index's condition, literally.
        sa.text(OUTBOX_CLAIMABLE),
        sa.or_(
            sa.and_(table.c.status == OutboxStatus.PENDING.value, table.c.next_attempt_at <= now),
            sa.and_(table.c.status == OutboxStatus.SENDING.value, table.c.claimed_until < now),
        ),
    )


def claimable(*, now: datetime, limit: int) -> sa.Select[tuple[int]]:
    """The ids a claim takes: urgent rows first (crisis), then the oldest. It reads them in
    the order of ix_outbox_message_claim."""
    table = outbox_table
    # SKIP LOCKED lets several workers on PostgreSQL claim side by side without waiting or
    # sharing rows; SQLite serialises writers (BEGIN IMMEDIATE) and ignores the clause.
    return (
        sa.select(table.c.id)
        .where(_may_claim(now))
        .order_by(table.c.urgent.desc(), table.c.next_attempt_at, table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def urgent_waiting(connection: AsyncConnection, *, now: datetime) -> bool:
    """Whether an urgent row could be claimed now (the first entry of the claim index)."""
    table = outbox_table
    found = await connection.scalar(
        sa.select(table.c.id).where(_may_claim(now), table.c.urgent).limit(1)
    )
    return found is not None


async def claim_due(
    connection: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedMessage]:
    """Take up to `limit` claimable rows for this worker, under a lease until `lease_until`."""
    table = outbox_table
    candidates = claimable(now=now, limit=limit)
    rows = await connection.execute(
        sa.update(table)
        .where(table.c.id.in_(candidates.scalar_subquery()))
        .values(status=OutboxStatus.SENDING.value, claimed_until=lease_until)
        .returning(*_MESSAGE_COLUMNS)
    )
    claimed = [ClaimedMessage(**row._mapping) for row in rows]
    # RETURNING keeps no order: urgent first, then by id (about the order they were queued).
    return sorted(claimed, key=lambda message: (not message.urgent, message.id))


async def inquiries_for(
    connection: AsyncConnection, messages: Iterable[ClaimedMessage]
) -> dict[int, dict[str, Any]]:
    ids = {message.inquiry_id for message in messages}
    if not ids:
        return {}
    rows = await connection.execute(sa.select(inquiry_table).where(inquiry_table.c.id.in_(ids)))
    return {row.id: dict(row._mapping) for row in rows}


def _held(lease_until: datetime) -> sa.ColumnElement[bool]:
    """Rows still held by the claim that set this lease. A row whose lease lapsed may have
    been claimed again, by another worker or by this one: it is that claim's now, and
    writing to it would let the message go out twice.
    """
    table = outbox_table
    return sa.and_(
        table.c.status == OutboxStatus.SENDING.value, table.c.claimed_until == lease_until
    )


async def record(
    connection: AsyncConnection, results: Sequence[Result], *, now: datetime, lease_until: datetime
) -> None:
    """Write every result of a batch claimed under `lease_until`: the sent ones in one
    statement, the others row by row."""
    table = outbox_table
    still_ours = _held(lease_until)
    sent = [result.message.id for result in results if result.status is OutboxStatus.SENT]
    if sent:
        # Nearly every result of a healthy batch: one UPDATE instead of one per message.
        written = await connection.execute(
            sa.update(table)
            .where(table.c.id.in_(sent), still_ours)
            .values(
                status=OutboxStatus.SENT.value,
                attempts=table.c.attempts + 1,
                claimed_until=None,
                last_error=None,
                sent_at=now,
            )
        )
        if written.rowcount != len(sent):
            # Sent past its lease (a server slower than the lease allows): another claim holds
            # the row now and will send it again.
            log.warning(
                "%d of %d sent messages were not recorded: their lease had lapsed",
                len(sent) - written.rowcount,
                len(sent),
            )
    others = [result for result in results if result.status is not OutboxStatus.SENT]
    if not others:
        return
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("message_pk"), still_ours)
        .values(
            status=sa.bindparam("new_status"),
            attempts=table.c.attempts + 1,
            claimed_until=None,
            last_error=sa.bindparam("error"),
            next_attempt_at=sa.func.coalesce(sa.bindparam("retry_at"), table.c.next_attempt_at),
            sent_at=None,
        )
    )
    parameters = [
        {
            "message_pk": result.message.id,
            "new_status": result.status.value,
            "error": result.error[:500] if result.error else None,
            "retry_at": result.next_attempt_at,
        }
        for result in others
    ]
    await connection.execute(statement, parameters)


async def release(
    connection: AsyncConnection, messages: Iterable[ClaimedMessage], *, lease_until: datetime
) -> None:
    """Hand back rows claimed under `lease_until` that were not attempted: due again at once."""
    ids = [message.id for message in messages]
    if not ids:
        return
    table = outbox_table
    await connection.execute(
        sa.update(table)
        .where(table.c.id.in_(ids), _held(lease_until))
        .values(status=OutboxStatus.PENDING.value, claimed_until=None)
    )


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
