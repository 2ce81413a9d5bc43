"""Outbox rows under privacy duties: mail not yet sent is cancelled, addresses are forgotten,
and a deleted inquiry's rows go with it (inquiry.privacy decides when; this module how).

The messages themselves are not stored: the worker renders each from its inquiry when it
sends it. What a row holds of a person is its recipient (the visitor's address, for mail to
them) and a delivery error, which may quote that address.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.models import OutboxStatus, outbox_table

# The table, by name, and what each of its personal columns is left holding once forgotten.
TABLE = outbox_table.name
PERSONAL_COLUMNS: dict[str, Any] = {"recipient": "", "last_error": None}
CANCELLED = "cancelled: the inquiry's personal details were erased"
_UNSENT = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)

t = outbox_table


async def cancel_unsent(session: AsyncSession, inquiry_ids: Sequence[int]) -> int:
    """Mail owed on these inquiries and not yet sent is never sent (skipped); returns how many.

    A row a worker holds right now is cancelled too: the worker records results only on rows
    still held by its claim (status sending, its token), and this takes the claim away.
    """
    if not inquiry_ids:
        return 0
    result = await session.execute(
        sa.update(t)
        .where(t.c.inquiry_id.in_(inquiry_ids), t.c.status.in_(_UNSENT))
        .values(
            status=OutboxStatus.SKIPPED.value,
            claimed_until=None,
            claim_token=None,
            last_error=CANCELLED,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def message_ids_of(session: AsyncSession, inquiry_ids: Sequence[int]) -> list[str]:
    """The Message-IDs of every message owed on these inquiries (to find their copies)."""
    if not inquiry_ids:
        return []
    query = sa.select(t.c.message_id).where(t.c.inquiry_id.in_(inquiry_ids)).order_by(t.c.id)
    return list(await session.scalars(query))


async def unsent_count(session: AsyncSession, inquiry_ids: Sequence[int]) -> int:
    """How many messages owed on these inquiries are not sent yet."""
    if not inquiry_ids:
        return 0
    query = sa.select(sa.func.count()).where(
        t.c.inquiry_id.in_(inquiry_ids), t.c.status.in_(_UNSENT)
    )
    return int(await session.scalar(query) or 0)


async def messages_of(session: AsyncSession, inquiry_id: int) -> list[dict[str, Any]]:
    """Every row owed on this inquiry, oldest first, as column → value (for an access request)."""
    query = sa.select(t).where(t.c.inquiry_id == inquiry_id).order_by(t.c.id)
    return [dict(row._mapping) for row in await session.execute(query)]


async def forget_recipients(session: AsyncSession, inquiry_ids: Sequence[int]) -> int:
    """The rows of these inquiries no longer say whom they were for; returns how many."""
    if not inquiry_ids:
        return 0
    # A cancellation's own note names no one: it stays, to tell these from other skips.
    kept_error = sa.case((t.c.last_error == CANCELLED, t.c.last_error), else_=sa.null())
    values = {**PERSONAL_COLUMNS, "last_error": kept_error}
    result = await session.execute(
        sa.update(t).where(t.c.inquiry_id.in_(inquiry_ids)).values(**values)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_for(session: AsyncSession, inquiry_ids: Sequence[int]) -> int:
    """Delete every row of these inquiries (which are being deleted); returns how many."""
    if not inquiry_ids:
        return 0
    result = await session.execute(sa.delete(t).where(t.c.inquiry_id.in_(inquiry_ids)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
