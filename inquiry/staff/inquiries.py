"""Staff reads of inquiries, triage overrides, and the CSV export (every one audited)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from inquiry.audit import Caller, record
from inquiry.callbacks import queue
from inquiry.callbacks.models import CallbackTask, attempt_table, task_table
from inquiry.callbacks.transitions import SPAM_OVERRIDE, follow_triage
from inquiry.config import Settings
from inquiry.errors import TransitionNotAllowed
from inquiry.lifecycle import Lifecycle, refuse_if_redacted
from inquiry.lifecycle.models import StatusChange, status_change_table
from inquiry.models import CloseReason, Inquiry, Staff, as_utc, inquiry_table, staff_table
from inquiry.outbox import reorder_unsent
from inquiry.staff.export_csv import phone_cell
from inquiry.staff.models import InquiryNote, TriageOverride, note_table, override_table
from inquiry.staff.search import InquiryFilter, inquiry_id_of
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, Priority, Topic

EXPORT_BATCH = 1000


@dataclass(frozen=True, slots=True)
class InquiryView:
    """An inquiry with what staff did on it: overrides, notes and status history (each with
    its author), its assignee and its callback task."""

    inquiry: Inquiry
    overrides: list[TriageOverride]
    task: CallbackTask | None
    notes: list[tuple[InquiryNote, Staff]]
    history: list[tuple[StatusChange, Staff | None]]
    assignee: Staff | None
    duplicate_of: str | None  # the reference of the inquiry this one is linked to
    duplicates: list[str]  # the references of those linked to this one


async def view_of(session: AsyncSession, inquiry: Inquiry) -> InquiryView:
    assert inquiry.id is not None
    overrides = await session.scalars(
        sa.select(TriageOverride)
        .where(override_table.c.inquiry_id == inquiry.id)
        .order_by(override_table.c.id)
    )
    notes = await session.execute(
        sa.select(InquiryNote, Staff)
        .join(Staff, staff_table.c.id == note_table.c.staff_id)
        .where(note_table.c.inquiry_id == inquiry.id)
        .order_by(note_table.c.id)
    )
    history = await session.execute(
        sa.select(StatusChange, Staff)
        .outerjoin(Staff, staff_table.c.id == status_change_table.c.staff_id)
        .where(status_change_table.c.inquiry_id == inquiry.id)
        .order_by(status_change_table.c.id)
    )
    assignee = await session.get(Staff, inquiry.assignee_id) if inquiry.assignee_id else None
    task = await queue.task_of(session, inquiry.id)
    first = None
    if inquiry.duplicate_of is not None:
        first = await queue.reference_of(session, inquiry.duplicate_of)
        # A linked inquiry is answered by the task of the one it is linked to.
        task = task or await queue.task_of(session, inquiry.duplicate_of)
    linked = await queue.linked_references(session, [inquiry.id])
    return InquiryView(
        inquiry,
        list(overrides),
        task,
        [(note, author) for note, author in notes],
        [(change, author) for change, author in history],
        assignee,
        first,
        linked.get(inquiry.id, []),
    )


async def locked(
    session: AsyncSession, lifecycle: Lifecycle, key: str
) -> tuple[Inquiry, CallbackTask | None]:
    """The inquiry with this id or reference and its callback task, both rows held until
    commit (PostgreSQL): the task's first, as the callback queue locks them. Staff change
    nothing on an inquiry whose personal details were removed."""
    inquiry_id = await inquiry_id_of(session, key)
    task = await queue.task_of(session, inquiry_id, lock=True)
    inquiry = await lifecycle.locked(inquiry_id)
    refuse_if_redacted(inquiry)
    return inquiry, task


class StaffInquiries:
    """What staff read of inquiries, and their corrections of the triage."""

    def __init__(self, session: AsyncSession, settings: Settings, caller: Caller) -> None:
        self._session = session
        self._settings = settings
        self._caller = caller
        self._lifecycle = Lifecycle(session, caller)

    async def page(self, filters: InquiryFilter, *, limit: int, offset: int) -> list[Inquiry]:
        """Inquiries, newest first."""
        await self._lifecycle.end_due_waits()
        t = inquiry_table
        query = sa.select(Inquiry).order_by(t.c.created_at.desc(), t.c.id.desc())
        query = filters.apply(query).limit(limit).offset(offset)
        inquiries = list(await self._session.scalars(query))
        record(
            self._session,
            self._caller,
            "inquiry.list",
            filters=filters.described(),
            inquiries=[i.id for i in inquiries],
        )
        return inquiries

    async def read(self, key: str) -> InquiryView:
        """One inquiry, by id or reference, with what staff did on it (audited)."""
        await self._lifecycle.end_due_waits()
        inquiry = await self._session.get_one(Inquiry, await inquiry_id_of(self._session, key))
        record(self._session, self._caller, "inquiry.read", ("inquiry", inquiry.id))
        return await view_of(self._session, inquiry)

    async def override_triage(
        self, key: str, *, topic: Topic | None, priority: Priority | None, reason: str
    ) -> InquiryView:
        """Correct the triage; the callback task follows (re-ranked, created or cancelled),
        and an inquiry called spam is closed as spam."""
        inquiry, _ = await locked(self._session, self._lifecycle, key)
        assert inquiry.id is not None
        old_topic, old_priority = Topic(inquiry.topic), Priority(inquiry.priority)
        new_topic = topic or old_topic
        new_priority = priority or (PRIORITY_OF_TOPIC[topic] if topic else old_priority)
        if new_topic is Topic.CRISIS:
            new_priority = Priority.URGENT  # a crisis is never anything but urgent
        if (new_topic, new_priority) == (old_topic, old_priority):
            raise TransitionNotAllowed("The triage is already this.")
        inquiry.topic, inquiry.priority = new_topic.value, new_priority.value
        inquiry.crisis = new_topic is Topic.CRISIS
        await self._reorder_outbox(inquiry.id, crisis=inquiry.crisis)
        assert self._caller.staff is not None
        assert self._caller.staff.id is not None
        self._session.add(
            TriageOverride(
                inquiry_id=inquiry.id,
                staff_id=self._caller.staff.id,
                at=self._caller.now,
                old_topic=old_topic.value,
                new_topic=new_topic.value,
                old_priority=old_priority.value,
                new_priority=new_priority.value,
                reason=reason,
            )
        )
        await self._follow(inquiry, new_topic, new_priority)
        moved: dict[str, Any] = {}
        if new_topic is Topic.SPAM:
            moved = self._lifecycle.settled(inquiry, CloseReason.SPAM, SPAM_OVERRIDE)
        await self._session.flush()
        record(
            self._session,
            self._caller,
            "inquiry.triage_override",
            ("inquiry", inquiry.id),
            old={"topic": old_topic.value, "priority": old_priority.value},
            new={"topic": new_topic.value, "priority": new_priority.value},
            **moved,
        )
        return await view_of(self._session, inquiry)

    async def export_started(self, filters: InquiryFilter) -> None:
        await self._lifecycle.end_due_waits()
        record(self._session, self._caller, "inquiry.export", filters=filters.described())

    async def _reorder_outbox(self, inquiry_id: int, *, crisis: bool) -> None:
        """Mail not yet sent on this inquiry takes its place by the new triage (is_urgent)."""
        await reorder_unsent(self._session, inquiry_id, crisis=crisis)

    async def _follow(self, inquiry: Inquiry, topic: Topic, priority: Priority) -> None:
        """The inquiry's callback task follows the corrected triage."""
        now, settings = self._caller.now, self._settings
        await follow_triage(self._session, inquiry, topic, priority, now=now, settings=settings)


EXPORT_COLUMNS = (
    "reference", "created_at", "status", "close_reason", "topic", "priority", "crisis", "name",
    "email", "phone", "preferred_contact", "callback_window", "language", "visitor_topic",
    "subject", "source", "callback_status", "last_outcome",
)  # fmt: skip
# Filled from the callback task, not the inquiry.
_TASK_COLUMNS = 2


async def export_rows(
    engine: AsyncEngine, filters: InquiryFilter, settings: Settings
) -> AsyncIterator[list[Any]]:
    """Rows of the export in short transactions of EXPORT_BATCH (never one long lock): times
    in clinic time with their offset, phone numbers as spreadsheets keep them (phone_cell)."""
    t = inquiry_table
    zone = ZoneInfo(settings.clinic_timezone)
    columns = [t.c[name] for name in EXPORT_COLUMNS[:-_TASK_COLUMNS]]
    created, phone = EXPORT_COLUMNS.index("created_at"), EXPORT_COLUMNS.index("phone")
    # An inquiry's latest task (a bounced email is followed by a call): one row each.
    latest = (
        sa.select(sa.func.max(task_table.c.id))
        .where(task_table.c.inquiry_id == t.c.id)
        .correlate(t)
        .scalar_subquery()
    )
    last_outcome = (
        sa.select(attempt_table.c.outcome)
        .where(attempt_table.c.task_id == task_table.c.id)
        .order_by(attempt_table.c.at.desc(), attempt_table.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    after = 0
    while True:
        query = (
            sa.select(
                t.c.id,
                *columns,
                task_table.c.status.label("callback_status"),
                last_outcome.label("last_outcome"),
            )
            .outerjoin(task_table, task_table.c.id == latest)
            .where(t.c.id > after)
            .order_by(t.c.id)
            .limit(EXPORT_BATCH)
        )
        async with engine.connect() as connection:
            rows = (await connection.execute(filters.apply(query))).all()
        for row in rows:
            values = list(row[1:])
            values[created] = as_utc(values[created]).astimezone(zone).isoformat("T", "seconds")
            values[phone] = phone_cell(values[phone])
            yield values
        if len(rows) < EXPORT_BATCH:
            return
        after = rows[-1].id
