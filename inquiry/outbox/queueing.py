"""Writing to the outbox outside the worker: queue messages in the caller's transaction, wake
the workers when it commits, and move unsent mail when an inquiry's triage changes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from inquiry.config import Settings
from inquiry.models import Inquiry, OutboxKind, OutboxStatus, outbox_table
from inquiry.outbox.owed import (
    addressed,
    is_urgent_sql,
    owed_on_decision,
    owed_on_release,
    owed_when_unreachable,
)

OUTBOX_CHANNEL = "inquiry_outbox"
_NOTIFY = f"NOTIFY {OUTBOX_CHANNEL}"

# Writes rows into a table in the connection's transaction.
Insert = Callable[[sa.Connection, sa.Table, list[dict[str, Any]]], object]


def _insert(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    connection.execute(sa.insert(table), rows)


def enqueue(
    connection: sa.Connection, rows: list[dict[str, Any]], *, insert: Insert = _insert
) -> None:
    """Queue these rows (from `addressed`) in the connection's transaction, and wake the
    workers when it commits. `insert` writes them: the intake writer passes its own."""
    if not rows:
        return
    insert(connection, outbox_table, rows)
    wake_workers(connection)


def wake_workers(connection: sa.Connection) -> None:
    """Have workers in other processes look at the outbox once this transaction commits.

    PostgreSQL: they LISTEN, and the notification is delivered on commit. SQLite has no such
    signal: they find the rows at their next poll. A worker in this process is woken by
    whoever commits (the intake writer, a staff request).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_NOTIFY)


async def owe_unreachable(
    session: AsyncSession, inquiry: Inquiry, *, now: datetime, domain: str
) -> None:
    """Queue the email owed to a visitor the phone team could not reach (if any is)."""
    assert inquiry.id is not None
    owed = owed_when_unreachable(inquiry, now=now)
    rows = addressed(owed, inquiry_id=inquiry.id, reference=inquiry.reference, domain=domain)
    if rows:
        await session.run_sync(_enqueue_in, rows)


async def owe_decision_alert(
    session: AsyncSession, inquiry: Inquiry, settings: Settings, *, now: datetime, domain: str
) -> None:
    """Queue the on-call alert that an urgent call awaits an admin's decision."""
    assert inquiry.id is not None
    owed = owed_on_decision(settings, inquiry, now=now)
    if not owed:
        return
    kind = OutboxKind.CALLBACK_DECISION.value
    earlier = await session.scalar(
        sa.select(sa.func.count())
        .select_from(outbox_table)
        .where(outbox_table.c.inquiry_id == inquiry.id, outbox_table.c.kind == kind)
    )
    rows = addressed(
        owed,
        inquiry_id=inquiry.id,
        reference=inquiry.reference,
        domain=domain,
        earlier=Counter({kind: earlier or 0}),
    )
    await session.run_sync(_enqueue_in, rows)


async def owe_on_release(
    session: AsyncSession, inquiry: Inquiry, settings: Settings, *, now: datetime, domain: str
) -> list[str]:
    """Queue what an inquiry released from quarantine owes (owed_on_release); returns the
    kinds queued."""
    assert inquiry.id is not None
    query = sa.select(outbox_table.c.kind).where(outbox_table.c.inquiry_id == inquiry.id)
    queued = frozenset(await session.scalars(query))
    owed = owed_on_release(settings, inquiry, queued=queued, now=now)
    rows = addressed(owed, inquiry_id=inquiry.id, reference=inquiry.reference, domain=domain)
    if rows:
        await session.run_sync(_enqueue_in, rows)
    return [row["kind"] for row in rows]


def _enqueue_in(session: Session, rows: list[dict[str, Any]]) -> None:
    enqueue(session.connection(), rows)


async def reorder_unsent(session: AsyncSession, inquiry_id: int, *, crisis: bool) -> None:
    """Mail not yet sent on this inquiry takes its place by its triage now (is_urgent)."""
    table = outbox_table
    unsent = sa.and_(table.c.inquiry_id == inquiry_id, table.c.status != OutboxStatus.SENT.value)
    # Rows a worker is recording or handing back right now are skipped (they keep their
    # place): waiting for them while holding others could deadlock with the worker, and a
    # worker whose record is aborted sends its batch again once the lease lapses.
    ids = list(
        await session.scalars(
            sa.select(table.c.id)
            .where(unsent)
            .order_by(table.c.id)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        await session.execute(
            sa.update(table).where(table.c.id.in_(ids)).values(urgent=is_urgent_sql(crisis=crisis))
        )
