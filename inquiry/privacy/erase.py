"""Erasure on request (withdrawal of consent): a person's contact details, messages and the
copies of mail sent to them are removed, their open call and unsent mail cancelled, and a
tombstone says when, by whom and why.

`plan` shows what would go; `erase` removes exactly the inquiries a plan showed (one stored
since is not erased unseen). An inquiry still open is closed as withdrawn, through the
lifecycle, and its callback task follows it as on any closing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inquiry import mail_files, outbox
from inquiry.audit import Caller, record
from inquiry.callbacks import queue
from inquiry.callbacks.models import ACTIVE_STATUSES, TaskStatus, attempt_table, task_table
from inquiry.callbacks.transitions import close, follow_status, follow_unlink
from inquiry.config import Settings
from inquiry.errors import InquiryError
from inquiry.lifecycle import Lifecycle
from inquiry.models import CloseReason, InquiryStatus, inquiry_table
from inquiry.privacy import personal
from inquiry.privacy.models import Erasure, erasure_table
from inquiry.privacy.selector import Selector, inquiry_ids
from inquiry.staff.models import note_table

log = logging.getLogger(__name__)

CAUSE = "privacy erasure"
REASON_MAX_LENGTH = 500
ERASED_BY_MAX_LENGTH = 254


class InvalidErasure(InquiryError):
    status_code = 422
    code = "invalid_erasure"
    message = "An erasure needs a reason and who asks for it."


@dataclass(frozen=True, slots=True)
class PlannedInquiry:
    id: int
    reference: str
    created_at: datetime
    status: str
    erased_before: bool  # a tombstone exists: erased already


@dataclass(frozen=True, slots=True)
class ErasurePlan:
    """What an erasure would remove, counted (nothing of it shown)."""

    selector: Selector
    inquiries: list[PlannedInquiry]
    notes: int
    attempts: int
    open_tasks: int
    unsent_mail: int
    mail_files: int

    @property
    def inquiry_ids(self) -> list[int]:
        return [planned.id for planned in self.inquiries]


@dataclass(frozen=True, slots=True)
class ErasureResult:
    references: list[str]
    tasks_cancelled: int
    mail_cancelled: int
    mail_files_deleted: int


async def plan(session: AsyncSession, settings: Settings, selector: Selector) -> ErasurePlan:
    """What erasing the inquiries `selector` names would remove."""
    ids = await inquiry_ids(session, selector)
    t = inquiry_table
    rows = await session.execute(
        sa.select(t.c.id, t.c.reference, t.c.created_at, t.c.status, erasure_table.c.id)
        .outerjoin(erasure_table, erasure_table.c.inquiry_id == t.c.id)
        .where(t.c.id.in_(ids))
        .order_by(t.c.id)
    )
    planned = [
        PlannedInquiry(row[0], row[1], row[2], row[3], erased_before=row[4] is not None)
        for row in rows
    ]
    tasks = task_table.c.inquiry_id.in_(ids)
    message_ids = await outbox.message_ids_of(session, ids)
    files = await asyncio.to_thread(mail_files.files_of, settings.mail_dir, message_ids)
    return ErasurePlan(
        selector=selector,
        inquiries=planned,
        notes=await _count(session, note_table, note_table.c.inquiry_id.in_(ids)),
        attempts=await _count(
            session,
            attempt_table,
            attempt_table.c.task_id.in_(sa.select(task_table.c.id).where(tasks)),
        ),
        open_tasks=await _count(
            session,
            task_table,
            tasks,
            task_table.c.status.in_([status.value for status in ACTIVE_STATUSES]),
        ),
        unsent_mail=await outbox.unsent_count(session, ids),
        mail_files=len(files),
    )


async def erase(
    engine: AsyncEngine,
    settings: Settings,
    caller: Caller,
    planned: ErasurePlan,
    *,
    erased_by: str,
    reason: str,
) -> ErasureResult:
    """Erase the inquiries the plan showed, in one transaction; then their mail files."""
    reason, erased_by = reason.strip(), erased_by.strip()
    if not reason or len(reason) > REASON_MAX_LENGTH or "\n" in reason:
        raise InvalidErasure(
            f"Give the reason on one line, at most {REASON_MAX_LENGTH} characters."
        )
    if not erased_by or len(erased_by) > ERASED_BY_MAX_LENGTH:
        raise InvalidErasure("Say who asks for the erasure.")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        ids = await _still_there(session, planned.inquiry_ids)
        references, tasks_cancelled = await _close(session, settings, caller, ids)
        message_ids = await outbox.message_ids_of(session, ids)
        mail_cancelled = await outbox.cancel_unsent(session, ids)
        await session.flush()
        await personal.remove(session, ids, at=caller.now)
        for inquiry_id in ids:
            session.add(
                Erasure(
                    inquiry_id=inquiry_id,
                    at=caller.now,
                    staff_id=caller.staff_id,
                    erased_by=erased_by,
                    reason=reason,
                )
            )
            record(session, caller, "privacy.erase", ("inquiry", inquiry_id), by=erased_by)
    files = await asyncio.to_thread(mail_files.files_of, settings.mail_dir, message_ids)
    removed = await asyncio.to_thread(mail_files.remove, files)
    log.info(
        "privacy erasure: %d inquiries, %d calls and %d messages cancelled, %d mail files deleted",
        len(ids),
        tasks_cancelled,
        mail_cancelled,
        removed,
    )
    return ErasureResult(references, tasks_cancelled, mail_cancelled, removed)


async def _still_there(session: AsyncSession, ids: Sequence[int]) -> list[int]:
    query = sa.select(inquiry_table.c.id).where(inquiry_table.c.id.in_(ids))
    return sorted(await session.scalars(query))


async def _close(
    session: AsyncSession, settings: Settings, caller: Caller, ids: Sequence[int]
) -> tuple[list[str], int]:
    """Close each inquiry still open as withdrawn, its call cancelled; returns the references
    and how many calls were cancelled."""
    lifecycle = Lifecycle(session, caller)
    await _unlink_the_others(session, settings, caller, lifecycle, ids)
    references: list[str] = []
    cancelled = 0
    for inquiry_id in ids:
        task = await queue.task_of(session, inquiry_id, lock=True)  # the task first, as always
        inquiry = await lifecycle.locked(inquiry_id)
        references.append(inquiry.reference)
        was = InquiryStatus(inquiry.status)
        if was is not InquiryStatus.CLOSED:
            lifecycle.move(inquiry, InquiryStatus.CLOSED, reason=CloseReason.WITHDRAWN, cause=CAUSE)
        if task is not None and task.status in ACTIVE_STATUSES:
            if follow_status(task, inquiry, was, now=caller.now, settings=settings) is None:
                close(task, TaskStatus.CANCELLED, CAUSE, caller.now)
            cancelled += 1
    return references, cancelled


async def _unlink_the_others(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    lifecycle: Lifecycle,
    ids: Sequence[int],
) -> None:
    """Inquiries linked to one being erased, and not erased themselves, stand on their own
    again first: the call they were owed is the erased one's task, which is about to be
    cancelled."""
    query = sa.select(inquiry_table.c.id, inquiry_table.c.duplicate_of).where(
        inquiry_table.c.duplicate_of.in_(ids), inquiry_table.c.id.not_in(ids)
    )
    for linked_id, first_id in (await session.execute(query.order_by(inquiry_table.c.id))).all():
        # The shared task's row first, then the inquiries', as every path locks them.
        shared = await queue.task_of(session, first_id, lock=True)
        first = await lifecycle.locked(first_id)
        linked = await lifecycle.locked(linked_id)
        linked.duplicate_of = None
        await session.flush()  # the shared task's priority is read without it
        task = await follow_unlink(
            session, linked, first, shared, now=caller.now, settings=settings
        )
        await session.flush()
        record(
            session,
            caller,
            "inquiry.unlink",
            ("inquiry", linked_id),
            previous=first_id,
            callback=task,
            cause=CAUSE,
        )


async def _count(session: AsyncSession, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    found = await session.scalar(sa.select(sa.func.count()).select_from(table).where(*where))
    return int(found or 0)
