"""Staff reads of inquiries, triage overrides, and the CSV export (every one audited)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from inquiry.audit import Caller, record
from inquiry.callbacks import queue
from inquiry.callbacks.models import CallbackTask, task_table
from inquiry.callbacks.transitions import follow_triage
from inquiry.config import Settings
from inquiry.errors import NotFound, TransitionNotAllowed
from inquiry.models import Inquiry, InquiryStatus, as_utc, inquiry_table
from inquiry.outbox import reorder_unsent
from inquiry.staff.models import TriageOverride, override_table
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, Priority, Topic

EXPORT_BATCH = 1000


@dataclass(frozen=True, slots=True)
class InquiryFilter:
    topic: Topic | None = None
    priority: Priority | None = None
    status: InquiryStatus | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: sa.Select[Any]) -> sa.Select[Any]:
        t = inquiry_table
        for column, value in ((t.c.topic, self.topic), (t.c.priority, self.priority)):
            if value is not None:
                query = query.where(column == value.value)
        if self.status is not None:
            query = query.where(t.c.status == self.status.value)
        if self.since is not None:
            query = query.where(t.c.created_at >= self.since)
        if self.until is not None:
            query = query.where(t.c.created_at < self.until)
        return query

    def described(self) -> dict[str, str]:
        values = {k: getattr(self, k) for k in ("topic", "priority", "status", "since", "until")}
        return {k: str(v) for k, v in values.items() if v is not None}


@dataclass(frozen=True, slots=True)
class InquiryView:
    inquiry: Inquiry
    overrides: list[TriageOverride]
    task: CallbackTask | None


class StaffInquiries:
    """What staff do with inquiries outside the queue."""

    def __init__(self, session: AsyncSession, settings: Settings, caller: Caller) -> None:
        self._session = session
        self._settings = settings
        self._caller = caller

    async def page(self, filters: InquiryFilter, *, limit: int, offset: int) -> list[Inquiry]:
        """Inquiries, newest first."""
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

    async def read(self, inquiry_id: int) -> InquiryView:
        """One inquiry with its overrides and callback task (audited)."""
        inquiry = await self._get(inquiry_id)
        record(self._session, self._caller, "inquiry.read", ("inquiry", inquiry.id))
        return await self._view(inquiry)

    async def override_triage(
        self, inquiry_id: int, *, topic: Topic | None, priority: Priority | None, reason: str
    ) -> InquiryView:
        """Correct the triage; the callback task follows (re-ranked, created or cancelled)."""
        inquiry = await self._get(inquiry_id, lock=True)
        old_topic, old_priority = Topic(inquiry.topic), Priority(inquiry.priority)
        new_topic = topic or old_topic
        new_priority = priority or (PRIORITY_OF_TOPIC[topic] if topic else old_priority)
        if new_topic is Topic.CRISIS:
            new_priority = Priority.URGENT  # a crisis is never anything but urgent
        if (new_topic, new_priority) == (old_topic, old_priority):
            raise TransitionNotAllowed("The triage is already this.")
        inquiry.topic, inquiry.priority = new_topic.value, new_priority.value
        inquiry.crisis = new_topic is Topic.CRISIS
        await self._reorder_outbox(inquiry_id, crisis=inquiry.crisis)
        assert self._caller.staff is not None
        assert self._caller.staff.id is not None
        self._session.add(
            TriageOverride(
                inquiry_id=inquiry_id,
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
        await self._session.flush()
        record(
            self._session,
            self._caller,
            "inquiry.triage_override",
            ("inquiry", inquiry_id),
            old={"topic": old_topic.value, "priority": old_priority.value},
            new={"topic": new_topic.value, "priority": new_priority.value},
        )
        return await self._view(inquiry)

    def export_started(self, filters: InquiryFilter) -> None:
        record(self._session, self._caller, "inquiry.export", filters=filters.described())

    async def _reorder_outbox(self, inquiry_id: int, *, crisis: bool) -> None:
        """Mail not yet sent on this inquiry takes its place by the new triage (is_urgent)."""
        await reorder_unsent(self._session, inquiry_id, crisis=crisis)

    async def _follow(self, inquiry: Inquiry, topic: Topic, priority: Priority) -> None:
        """The inquiry's callback task follows the corrected triage."""
        now, settings = self._caller.now, self._settings
        await follow_triage(self._session, inquiry, topic, priority, now=now, settings=settings)

    async def _get(self, inquiry_id: int, *, lock: bool = False) -> Inquiry:
        inquiry = await self._session.get(
            Inquiry, inquiry_id, with_for_update=lock or None, populate_existing=lock
        )
        if inquiry is None:
            raise NotFound("There is no inquiry with this id.")
        return inquiry

    async def _view(self, inquiry: Inquiry) -> InquiryView:
        query = (
            sa.select(TriageOverride)
            .where(override_table.c.inquiry_id == inquiry.id)
            .order_by(override_table.c.id)
        )
        overrides = list(await self._session.scalars(query))
        assert inquiry.id is not None
        return InquiryView(inquiry, overrides, await queue.task_of(self._session, inquiry.id))


EXPORT_COLUMNS = (
    "reference", "created_at", "status", "topic", "priority", "crisis", "name", "email", "phone",
    "preferred_contact", "callback_window", "language", "visitor_topic", "subject", "source",
    "callback_status",
)  # fmt: skip


async def export_rows(engine: AsyncEngine, filters: InquiryFilter) -> AsyncIterator[list[Any]]:
    """Rows of the export in short transactions of EXPORT_BATCH (never one long lock)."""
    t = inquiry_table
    columns = [t.c[name] for name in EXPORT_COLUMNS[:-1]]
    after = 0
    while True:
        query = (
            sa.select(t.c.id, *columns, task_table.c.status.label("callback_status"))
            .outerjoin(task_table, task_table.c.inquiry_id == t.c.id)
            .where(t.c.id > after)
            .order_by(t.c.id)
            .limit(EXPORT_BATCH)
        )
        async with engine.connect() as connection:
            rows = (await connection.execute(filters.apply(query))).all()
        for row in rows:
            values = list(row[1:])
            values[1] = as_utc(values[1]).isoformat()
            yield values
        if len(rows) < EXPORT_BATCH:
            return
        after = rows[-1].id
