"""Queue queries: the call order, and finding the next claimable task without a race."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.callbacks.models import (
    ACTIVE_SQL,
    ACTIVE_STATUSES,
    CallbackTask,
    Channel,
    TaskStatus,
    task_table,
)
from inquiry.models import inquiry_table
from inquiry.triage.taxonomy import Priority

t = task_table

# Urgent first; then by due time, which puts overdue calls before the rest; then by age.
QUEUE_ORDER = (t.c.queue_band, t.c.due_at, t.c.created_at, t.c.id)


def active() -> sa.TextClause:
    """Open and claimed tasks, worded exactly as the partial queue index is (no `= 1` added)."""
    return sa.text(f"callback_task.{ACTIVE_SQL}")


# Open tasks by priority: how many, how many overdue at :now, the earliest due time. Read
# from the partial queue index alone (its condition word for word; it holds the priority).
OPEN_BY_PRIORITY = (
    sa.select(
        t.c.priority,
        sa.func.count(),
        sa.func.sum(sa.case((t.c.due_at < sa.bindparam("now", type_=t.c.due_at.type), 1), else_=0)),
        sa.func.min(t.c.due_at),
    )
    .where(sa.text(ACTIVE_SQL))
    .group_by(t.c.priority)
)


def claimable(now: datetime) -> sa.ColumnElement[bool]:
    """Open (or claimed on a lapsed lease) and not scheduled for later."""
    return sa.and_(
        active(),
        sa.or_(t.c.status == TaskStatus.OPEN.value, t.c.claimed_until <= now),
        t.c.next_attempt_at <= now,
    )


async def next_claimable_id(session: AsyncSession, now: datetime) -> int | None:
    """Lock and return the first claimable task in queue order, or None.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent callers each lock a different row; a
    row another transaction claimed meanwhile is re-checked and passed over. SQLite: the
    transaction began with BEGIN IMMEDIATE, so nobody else writes until it commits.
    """
    query = (
        sa.select(t.c.id)
        .where(claimable(now))
        .order_by(*QUEUE_ORDER)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    found: int | None = await session.scalar(query)
    return found


async def queue_page(
    session: AsyncSession,
    *,
    statuses: Sequence[TaskStatus] | None,
    claimed_by: int | None,
    on_call: bool | None,
    channel: Channel | None = None,
    limit: int,
    offset: int,
    priority: str | None = None,
) -> list[tuple[CallbackTask, str]]:
    """Tasks with their inquiry's reference: the active queue in call order by default.
    `claimed_by` keeps that staff member's own: the tasks they hold and those of the
    inquiries assigned to them."""
    query = (
        sa.select(CallbackTask, inquiry_table.c.reference)
        .join(inquiry_table, inquiry_table.c.id == t.c.inquiry_id)
        .limit(limit)
        .offset(offset)
    )
    if statuses is None or set(statuses) <= ACTIVE_STATUSES:
        query = query.where(active()).order_by(*QUEUE_ORDER)
    else:
        query = query.order_by(t.c.closed_at.desc(), t.c.id.desc())  # most recently finished
    if statuses is not None:
        query = query.where(t.c.status.in_([s.value for s in statuses]))
    if claimed_by is not None:
        query = query.where(
            sa.or_(t.c.claimed_by == claimed_by, inquiry_table.c.assignee_id == claimed_by)
        )
    if on_call is not None:
        query = query.where(t.c.on_call.is_(on_call))
    if priority is not None:
        query = query.where(t.c.priority == priority)
    if channel is not None:
        query = query.where(t.c.channel == channel.value)
    rows = await session.execute(query)
    return [(task, reference) for task, reference in rows]


async def version(session: AsyncSession, *, shown: int) -> str:
    """A digest of what a queue page shows (the first `shown` active tasks in call order, with
    their claims, schedules and attempts) and of the newest task: it moves whenever the page
    would. Both reads are index walks of a few rows, whatever the size of the queue."""
    top = (
        sa.select(
            t.c.id, t.c.status, t.c.claimed_by, t.c.claimed_until, t.c.next_attempt_at,
            t.c.attempts, t.c.priority,
        )
        .where(active())
        .order_by(*QUEUE_ORDER)
        .limit(shown)
    )  # fmt: skip
    rows = [tuple(row) for row in await session.execute(top)]
    newest = await session.scalar(sa.select(sa.func.max(t.c.id)))
    return hashlib.sha256(repr((newest, rows)).encode()).hexdigest()[:24]


async def reference_of(session: AsyncSession, inquiry_id: int) -> str:
    query = sa.select(inquiry_table.c.reference).where(inquiry_table.c.id == inquiry_id)
    reference: str = (await session.execute(query)).scalar_one()
    return reference


async def task_of(
    session: AsyncSession, inquiry_id: int, *, lock: bool = False
) -> CallbackTask | None:
    """The inquiry's latest task, if it has one (a bounced email is followed by a call);
    `lock` holds its row until commit (PostgreSQL)."""
    query = sa.select(CallbackTask).where(t.c.inquiry_id == inquiry_id).order_by(t.c.id.desc())
    if lock:
        query = query.with_for_update()
    task: CallbackTask | None = (await session.scalars(query)).first()
    return task


async def linked_references(session: AsyncSession, inquiry_ids: list[int]) -> dict[int, list[str]]:
    """The references of the inquiries linked to each of these as duplicates, oldest first."""
    if not inquiry_ids:
        return {}
    i = inquiry_table
    query = (
        sa.select(i.c.duplicate_of, i.c.reference)
        # Worded as the partial index ix_inquiry_duplicate_of is.
        .where(sa.text("inquiry.duplicate_of IS NOT NULL"), i.c.duplicate_of.in_(inquiry_ids))
        .order_by(i.c.id)
    )
    linked: dict[int, list[str]] = {}
    for original, reference in await session.execute(query):
        linked.setdefault(original, []).append(reference)
    return linked


async def linked_priorities(session: AsyncSession, inquiry_id: int) -> list[Priority]:
    """The priorities of the inquiries linked to this one as duplicates."""
    i = inquiry_table
    query = sa.select(i.c.priority).where(
        sa.text("inquiry.duplicate_of IS NOT NULL"), i.c.duplicate_of == inquiry_id
    )
    return [Priority(value) for value in await session.scalars(query)]
