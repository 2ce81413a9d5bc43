"""The callback task's state machine: the only code that changes a task's state.

A task is open (waiting in the queue), claimed (held on a lease) or closed: done, unreachable
or cancelled. CallbackService decides who may move a task and audits it; staff features that
move tasks as a consequence (a corrected triage, a disabled account, the inquiry's status
chosen by staff, an inquiry released from quarantine) call here. A task closed for good stays
closed, except one cancelled only because its inquiry was closed: it opens again with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.callbacks import queue
from inquiry.callbacks.models import (
    ACTIVE_STATUSES,
    CallbackTask,
    Channel,
    TaskStatus,
    task_table,
)
from inquiry.callbacks.schedule import calendar_for
from inquiry.callbacks.tasks import channel_owed, ranking, task_owed, task_row
from inquiry.config import Settings
from inquiry.models import Inquiry, InquiryStatus, as_utc
from inquiry.triage.taxonomy import PRIORITY_RANK, Priority, Topic

SPAM_OVERRIDE = "triage override: spam"
_CLOSED_WITH_INQUIRY = "inquiry closed: "

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


def put_off(task: CallbackTask, at: datetime) -> None:
    """Back in the queue, not to be called before `at`, still due when it was: an urgent
    task stays overdue until someone reaches the visitor."""
    requeue(task)
    task.next_attempt_at = at


def await_decision(task: CallbackTask) -> None:
    """Out of claim-next's reach, still at the top of the queue, until an admin decides."""
    requeue(task)
    task.status = TaskStatus.AWAITING_DECISION.value


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
            close(task, TaskStatus.CANCELLED, SPAM_OVERRIDE, now)
        else:
            rerank(task, priority, settings)
        return
    if task is not None or inquiry.status == InquiryStatus.CLOSED:
        return  # closed for good: a new triage does not reopen it
    _owe_call(session, inquiry, topic, priority, now=now, settings=settings)


def follow_status(
    task: CallbackTask | None,
    inquiry: Inquiry,
    was: InquiryStatus,
    *,
    now: datetime,
    settings: Settings,
) -> str | None:
    """The inquiry's task follows the status staff gave it; returns what became of the task.

    Closing cancels the call; waiting puts it off to the end of the wait (and due then);
    taking a waiting inquiry up again makes its call due now; reopening a closed one opens
    again the call its closing cancelled.
    """
    if task is None:
        return None
    status = InquiryStatus(inquiry.status)
    if task.status in ACTIVE_STATUSES:
        if status is InquiryStatus.CLOSED:
            close(task, TaskStatus.CANCELLED, _CLOSED_WITH_INQUIRY + str(inquiry.close_reason), now)
            return "cancelled"
        if status is InquiryStatus.WAITING:
            assert inquiry.waiting_until is not None
            schedule(task, as_utc(inquiry.waiting_until))
            return "put off"
        if was is InquiryStatus.WAITING and as_utc(task.next_attempt_at) > now:
            schedule(task, now)
            return "due now"
        return None
    if was is InquiryStatus.CLOSED and _cancelled_by_closing(task) and _owes_call(inquiry):
        reopen(task, now, settings)
        return "reopened"
    return None


async def follow_release(
    session: AsyncSession,
    task: CallbackTask | None,
    inquiry: Inquiry,
    *,
    now: datetime,
    settings: Settings,
) -> str | None:
    """An inquiry released from quarantine gets the call it owes by its new triage: the one
    its closing as spam cancelled opens again, or a new one; returns what became of it."""
    topic, priority = Topic(inquiry.topic), Priority(inquiry.priority)
    if task is None:
        created = _owe_call(session, inquiry, topic, priority, now=now, settings=settings)
        return "created" if created else None
    if task.status in ACTIVE_STATUSES:
        rerank(task, priority, settings)
        return "re-ranked"
    if _cancelled_by_closing(task) and _owes_call(inquiry):
        _set(task, ranking(priority))
        reopen(task, now, settings)
        return "reopened"
    return None


def reopen(task: CallbackTask, now: datetime, settings: Settings) -> None:
    """In the queue again, due as a new call of its priority would be."""
    requeue(task)
    task.closed_at = None
    task.close_reason = None
    task.next_attempt_at = now
    task.due_at = calendar_for(settings).due_at(Priority(task.priority), now)


def follow_up_by(
    session: AsyncSession,
    inquiry: Inquiry,
    channel: Channel,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    """A new task on the inquiry in the other channel: a bounced email is followed by a
    call, a wrong number by an email."""
    assert inquiry.id is not None
    row = task_row(
        channel=channel,
        phone=inquiry.phone,
        email=inquiry.email,
        name=inquiry.name,
        language=inquiry.language,
        callback_window=inquiry.callback_window,
        voicemail_ok=inquiry.voicemail_ok,
        priority=Priority(inquiry.priority),
        now=now,
        settings=settings,
    )
    session.add(CallbackTask(inquiry_id=inquiry.id, **row))


async def follow_unlink(
    session: AsyncSession,
    inquiry: Inquiry,
    first: Inquiry,
    task: CallbackTask | None,
    *,
    now: datetime,
    settings: Settings,
) -> str | None:
    """An inquiry unlinked from the one it duplicated (`first`, whose latest task is `task`)
    gets the task it owes of its own (when it is not closed), and that task, if open, takes
    the priority of what it still answers; returns what became of the unlinked one's task."""
    assert first.id is not None
    if task is not None and task.status in ACTIVE_STATUSES:
        ranks = await queue.linked_priorities(session, first.id)
        best = min([Priority(first.priority), *ranks], key=lambda p: PRIORITY_RANK[p])
        if best.value != task.priority:
            rerank(task, best, settings)
        if not ranks:  # answering only its own inquiry again: in that one's channel
            task.channel = (_channel_of(first) or Channel(task.channel)).value
    if inquiry.status == InquiryStatus.CLOSED:
        return None
    topic, priority = Topic(inquiry.topic), Priority(inquiry.priority)
    created = _owe_call(session, inquiry, topic, priority, now=now, settings=settings)
    return "created" if created else None


def _owes_call(inquiry: Inquiry) -> bool:
    return _channel_of(inquiry) is not None


def _channel_of(inquiry: Inquiry) -> Channel | None:
    return channel_owed(
        phone=inquiry.phone,
        email=inquiry.email,
        prefers_phone=inquiry.preferred_contact == "phone",
        topic=Topic(inquiry.topic),
        quarantined=False,
    )


def _cancelled_by_closing(task: CallbackTask) -> bool:
    """Cancelled because its inquiry was closed (or called spam), not for its own sake."""
    reason = task.close_reason or ""
    return task.status == TaskStatus.CANCELLED and (
        reason == SPAM_OVERRIDE or reason.startswith(_CLOSED_WITH_INQUIRY)
    )


def _owe_call(
    session: AsyncSession,
    inquiry: Inquiry,
    topic: Topic,
    priority: Priority,
    *,
    now: datetime,
    settings: Settings,
) -> bool:
    """A new task when the inquiry owes one by this triage; whether one was added.

    A duplicate linked to another inquiry owes none of its own: that inquiry's task is its.
    """
    if inquiry.duplicate_of is not None:
        return False
    row = task_owed(
        phone=inquiry.phone,
        email=inquiry.email,
        prefers_phone=inquiry.preferred_contact == "phone",
        name=inquiry.name,
        language=inquiry.language,
        callback_window=inquiry.callback_window,
        voicemail_ok=inquiry.voicemail_ok,
        topic=topic,
        priority=priority,
        quarantined=False,  # asked only of an inquiry that is not closed
        now=now,
        settings=settings,
    )
    if row is not None:
        assert inquiry.id is not None
        session.add(CallbackTask(inquiry_id=inquiry.id, **row))
    return row is not None


def _set(task: CallbackTask, columns: dict[str, Any]) -> None:
    for column, value in columns.items():
        setattr(task, column, value)
