"""Carrying an inquiry to its end: its status, notes, assignment, release from quarantine, and
undoing a duplicate link.

Takes the request's session and flushes; the request commits. Statuses move only through
inquiry.lifecycle; the callback task follows through the callbacks' state machine.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.audit import Caller, record
from inquiry.callbacks import queue
from inquiry.callbacks.models import TaskStatus
from inquiry.callbacks.transitions import follow_release, follow_status, follow_unlink
from inquiry.config import Settings
from inquiry.errors import (
    AssignedElsewhere,
    Forbidden,
    InvalidSchedule,
    NotFound,
    TransitionNotAllowed,
)
from inquiry.lifecycle import Lifecycle
from inquiry.models import CloseReason, Inquiry, InquiryStatus, Staff, StaffRole
from inquiry.outbox import owe_on_release, reorder_unsent
from inquiry.staff.inquiries import locked
from inquiry.staff.models import InquiryNote, TriageOverride
from inquiry.triage import triage
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, Priority, Topic

NOT_SPAM = "not spam"
# Moves that would end or put off the inquiry's call.
_ENDS_A_CALL = frozenset({InquiryStatus.CLOSED, InquiryStatus.WAITING})


class Casework:
    """What staff do to carry inquiries to an end."""

    def __init__(self, session: AsyncSession, settings: Settings, caller: Caller) -> None:
        assert caller.staff is not None
        assert caller.staff.id is not None
        self._session = session
        self._settings = settings
        self._caller = caller
        self._me: Staff = caller.staff
        self._me_id: int = caller.staff.id
        self._now = caller.now
        self._lifecycle = Lifecycle(session, caller)

    async def change_status(
        self,
        key: str,
        to: InquiryStatus,
        *,
        reason: CloseReason | None = None,
        until: date | None = None,
        note: str | None = None,
    ) -> Inquiry:
        """Move the inquiry as staff chose; its callback task follows (cancelled when it
        closes, put off to the end of a wait, opened again when it reopens)."""
        inquiry, task = await locked(self._session, self._lifecycle, key)
        awaiting = task is not None and task.status == TaskStatus.AWAITING_DECISION
        if awaiting and to in _ENDS_A_CALL and self._me.role != StaffRole.ADMIN:
            raise Forbidden(
                "An urgent call that ran out of attempts awaits an admin's decision: only an "
                "admin closes its inquiry or puts it off."
            )
        was = InquiryStatus(inquiry.status)
        ends = self._end_of_wait(until) if until is not None else None
        self._lifecycle.move(inquiry, to, reason=reason, until=ends, note=note)
        became = follow_status(task, inquiry, was, now=self._now, settings=self._settings)
        if task is not None and became is not None:
            record(
                self._session,
                self._caller,
                "callback.follow_inquiry",
                ("callback_task", task.id),
                task=became,
                inquiry=inquiry.status,
            )
        await self._session.flush()
        return inquiry

    async def add_note(self, key: str, text: str) -> InquiryNote:
        """An internal note, never sent to the visitor; a new inquiry is then in progress."""
        inquiry, _ = await locked(self._session, self._lifecycle, key)
        assert inquiry.id is not None
        note = InquiryNote(inquiry_id=inquiry.id, staff_id=self._me_id, at=self._now, text=text)
        self._session.add(note)
        moved = self._lifecycle.work_started(inquiry, "note added")
        await self._session.flush()
        record(
            self._session,
            self._caller,
            "inquiry.note",
            ("inquiry", inquiry.id),
            note=note.id,
            **moved,
        )
        return note

    async def assign(self, key: str, staff_id: int | None) -> Inquiry:
        """Assign the inquiry to one staff member, or to none.

        Admins assign anyone; an agent takes an unassigned inquiry for themselves or gives
        back one of their own. Assigning puts a new inquiry in progress.
        """
        inquiry, _ = await locked(self._session, self._lifecycle, key)
        current = inquiry.assignee_id
        if self._me.role != StaffRole.ADMIN:
            if staff_id not in (None, self._me_id):
                raise Forbidden("An agent takes an inquiry for themselves, or gives it back.")
            if current not in (None, self._me_id):
                raise AssignedElsewhere()
        if staff_id is not None and staff_id != current:
            staff = await self._session.get(Staff, staff_id)
            if staff is None or not staff.active:
                raise NotFound("There is no active staff account with this id.")
        if staff_id == current:
            return inquiry  # already so: nothing changes, nothing to audit
        inquiry.assignee_id = staff_id
        moved = self._lifecycle.work_started(inquiry, "assigned") if staff_id else {}
        record(
            self._session,
            self._caller,
            "inquiry.assign",
            ("inquiry", inquiry.id),
            to=staff_id,
            previous=current,
            **moved,
        )
        await self._session.flush()
        return inquiry

    async def release(self, key: str, *, topic: Topic | None = None) -> Inquiry:
        """Not spam: a quarantined inquiry (closed as spam) is new again, triaged again (with
        the topic staff give, if any), acknowledged if it has an email address and never was,
        and given the call it owes."""
        inquiry, task = await locked(self._session, self._lifecycle, key)
        assert inquiry.id is not None
        quarantined_as = inquiry.quarantine_reason
        self._lifecycle.move(inquiry, InquiryStatus.NEW, cause=NOT_SPAM)
        inquiry.quarantine_reason = None
        old = {"topic": inquiry.topic, "priority": inquiry.priority}
        self._triage_again(inquiry, topic)
        await reorder_unsent(self._session, inquiry.id, crisis=inquiry.crisis)
        queued = await owe_on_release(
            self._session, inquiry, self._settings, now=self._now, domain=self._domain
        )
        call = await follow_release(
            self._session, task, inquiry, now=self._now, settings=self._settings
        )
        await self._session.flush()
        record(
            self._session,
            self._caller,
            "inquiry.not_spam",
            ("inquiry", inquiry.id),
            quarantined_as=quarantined_as,
            old=old,
            new={"topic": inquiry.topic, "priority": inquiry.priority},
            queued=queued,
            callback=call,
        )
        return inquiry

    async def unlink(self, key: str) -> Inquiry:
        """Undo a duplicate link: the inquiry stands on its own again, with the task it owes,
        and the task it shared takes the priority of what it still answers."""
        inquiry, _ = await locked(self._session, self._lifecycle, key)
        if inquiry.duplicate_of is None:
            raise TransitionNotAllowed("The inquiry is not linked to another.")
        # The shared task's row first, then its inquiry's, as every path locks them.
        shared = await queue.task_of(self._session, inquiry.duplicate_of, lock=True)
        first = await self._lifecycle.locked(inquiry.duplicate_of)
        inquiry.duplicate_of = None
        await self._session.flush()  # the shared task's priority is read without it
        task = await follow_unlink(
            self._session, inquiry, first, shared, now=self._now, settings=self._settings
        )
        await self._session.flush()
        record(
            self._session,
            self._caller,
            "inquiry.unlink",
            ("inquiry", inquiry.id),
            previous=first.id,
            callback=task,
        )
        return inquiry

    @property
    def _domain(self) -> str:
        return self._settings.message_domain

    def _triage_again(self, inquiry: Inquiry, topic: Topic | None) -> None:
        """The machine's triage once more; staff's topic, if given, wins (kept as an
        override). A message the machine still calls spam takes the visitor's own topic."""
        assert inquiry.id is not None
        visitor_topic = Topic(inquiry.visitor_topic) if inquiry.visitor_topic else None
        result = triage(inquiry.subject, inquiry.message, visitor_topic)
        reasons = list(result.reasons)
        new_topic, new_priority = result.topic, result.priority
        if topic is not None or new_topic is Topic.SPAM:
            new_topic = topic or visitor_topic or Topic.GENERAL
            new_priority = PRIORITY_OF_TOPIC[new_topic]
            reasons.append(NOT_SPAM)
        if topic is not None:
            self._session.add(
                TriageOverride(
                    inquiry_id=inquiry.id,
                    staff_id=self._me_id,
                    at=self._now,
                    old_topic=inquiry.topic,
                    new_topic=new_topic.value,
                    old_priority=inquiry.priority,
                    new_priority=new_priority.value,
                    reason=NOT_SPAM,
                )
            )
        inquiry.topic, inquiry.priority = new_topic.value, new_priority.value
        inquiry.crisis = new_topic is Topic.CRISIS or (topic is None and result.crisis)
        if inquiry.crisis:
            inquiry.priority = Priority.URGENT.value  # a crisis is never anything but urgent
        inquiry.triage_reasons = json.dumps(reasons, ensure_ascii=False)

    def _end_of_wait(self, until: date) -> datetime:
        """A wait ends when the clinic opens on its date, in the clinic's time zone; the date
        is after today there."""
        zone = ZoneInfo(self._settings.clinic_timezone)
        if until <= self._now.astimezone(zone).date():
            raise InvalidSchedule("Choose a date after today, within a year.")
        return datetime.combine(until, self._settings.business_open, tzinfo=zone).astimezone(UTC)
