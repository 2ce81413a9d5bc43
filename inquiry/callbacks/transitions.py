"""The callback task's state machine: the only code that changes a task's state.

A task is open (waiting in the queue), claimed (held on a lease) or closed for good: done,
unreachable or cancelled. CallbackService decides who may move a task and audits it; staff
features that move tasks as a consequence (a corrected triage, a disabled account) call here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.callbacks import queue
from inquiry.callbacks.models import ACTIVE_STATUSES, CallbackTask, TaskStatus, task_table
from inquiry.callbacks.schedule import calendar_for
from inquiry.callbacks.tasks import ranking, task_owed
from inquiry.config import Settings
from inquiry.models import Inquiry, InquiryStatus, as_utc
from inquiry.triage.taxonomy import Priority, Topic

# In the queue, held by nobody: set on one task, or on many at once in SQL.
_QUEUED: dict[str, Any] = {
    "status": TaskStatus.OPEN.value,
    "claimed_by": None,
    "claimed_until": None,
}


def hold(task: CallbackTask, staff_id: int | None, until: datetime) -> None:
    """Claimed by this staff member until the lease lapses."""
    task.status = TaskStatus.CLAIMED.value
    task.claimed_by = staff_id
    task.claimed_until = until


def requeue(task: CallbackTask) -> None:
    """Back in the queue, held by nobody."""
    _set(task, _QUEUED)


def schedule(task: CallbackTask, at: datetime) -> None:
    """Back in the queue, not to be called before `at`, and due then."""
    requeue(task)
    task.next_attempt_at = at
    task.due_at = at


def close(task: CallbackTask, status: TaskStatus, reason: str, at: datetime) -> None:
    """Done, unreachable or cancelled: out of the queue for good."""
    requeue(task)
    task.status = status.value
    task.closed_at = at
    task.close_reason = reason


def rerank(task: CallbackTask, priority: Priority, settings: Settings) -> None:
    """Sorted by a new priority; the time it is due counts again from its next attempt."""
    _set(task, ranking(priority))
    task.due_at = calendar_for(settings).due_at(priority, as_utc(task.next_attempt_at))


async def release_claims(session: AsyncSession, staff_id: int) -> None:
    """Every task this staff member holds goes back to the queue."""
    await session.execute(
        sa.update(task_table)
        .where(
            task_table.c.claimed_by == staff_id,
            task_table.c.status == TaskStatus.CLAIMED.value,
        )
        .values(**_QUEUED)
    )


async def follow_triage(
    session: AsyncSession,
    inquiry: Inquiry,
    topic: Topic,
    priority: Priority,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    """After a corrected triage: the active task is re-ranked (cancelled when now spam), and
    an inquiry that had no task gets one if a call is now owed."""
    assert inquiry.id is not None
    task = await queue.task_of(session, inquiry.id, lock=True)
    if task is not None and task.status in ACTIVE_STATUSES:
        if topic is Topic.SPAM:
            close(task, TaskStatus.CANCELLED, "triage override: spam", now)
        else:
            rerank(task, priority, settings)
        return
    if task is not None:
        return  # closed for good: a new triage does not reopen it
    row = task_owed(
        phone=inquiry.phone,
        prefers_phone=inquiry.preferred_contact == "phone",
        name=inquiry.name,
        language=inquiry.language,
        callback_window=inquiry.callback_window,
        voicemail_ok=inquiry.voicemail_ok,
        topic=topic,
        priority=priority,
        quarantined=inquiry.status == InquiryStatus.QUARANTINED,
        now=now,
        settings=settings,
    )
    if row is not None:
        session.add(CallbackTask(inquiry_id=inquiry.id, **row))


def _set(task: CallbackTask, columns: dict[str, Any]) -> None:
    for column, value in columns.items():
        setattr(task, column, value)
