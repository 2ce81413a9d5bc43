"""The one place an inquiry's status changes: checked against `rules`, kept, and audited.

Takes the request's session and flushes; the request commits. Callers lock the inquiry with
`locked`; one that also locks its callback task locks the task first (every path does, so two
requests never wait on each other's rows).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.audit import Caller, record
from inquiry.errors import InvalidSchedule, InvalidStatusChange, NotFound, TransitionNotAllowed
from inquiry.lifecycle.models import StatusChange
from inquiry.lifecycle.rules import CLOSED, IN_PROGRESS, NEW, WAITING, allowed
from inquiry.models import WAITING_SQL, CloseReason, Inquiry, InquiryStatus, as_utc, inquiry_table

WAIT_OVER = "waiting date reached"
_FURTHEST_WAIT = timedelta(days=366)
# The waits that are over, worded as the partial index ix_inquiry_waiting_until is.
_WAITING = sa.text(f"inquiry.{WAITING_SQL}")


def refuse_if_redacted(inquiry: Inquiry) -> None:
    """An inquiry whose personal details were removed (retention or erasure) is not worked on
    again: nothing is left to work with, and a note or a status added now would outlive the
    removal."""
    if inquiry.redacted_at is not None:
        raise TransitionNotAllowed(
            "This inquiry's personal details were removed (retention or erasure): it stays "
            "closed, and nothing more is added to it."
        )


class Lifecycle:
    """Moves inquiries between statuses for the caller (or automatically, for nobody)."""

    def __init__(self, session: AsyncSession, caller: Caller) -> None:
        self._session = session
        self._caller = caller
        # A wait that ends by its date was ended by no one.
        self._nobody = Caller(staff=None, client_ip=caller.client_ip, now=caller.now)

    async def locked(self, inquiry_id: int) -> Inquiry:
        """The inquiry, its row held until commit (PostgreSQL); a wait past its date is over."""
        inquiry = await self._session.get(
            Inquiry, inquiry_id, with_for_update=True, populate_existing=True
        )
        if inquiry is None:
            raise NotFound("There is no inquiry with this id or reference.")
        self._end_wait_if_due(inquiry)
        return inquiry

    async def linked(self, inquiry_id: int) -> list[Inquiry]:
        """The open inquiries linked to this one as duplicates, their rows held until commit,
        in id order (after the inquiry they are linked to)."""
        query = (
            sa.select(Inquiry)
            .where(
                sa.text("inquiry.duplicate_of IS NOT NULL"),
                inquiry_table.c.duplicate_of == inquiry_id,
                inquiry_table.c.status != CLOSED.value,
            )
            .order_by(inquiry_table.c.id)
            .with_for_update()
        )
        return list(await self._session.scalars(query))

    def follow(self, linked: Inquiry, first: Inquiry) -> dict[str, Any]:
        """A linked inquiry follows the one it is linked to, whose task answers both: in
        progress with it, closed with it for the same reason."""
        cause = "linked inquiry " + ("closed" if first.status == CLOSED else "in progress")
        if first.status == CLOSED and first.close_reason:
            return self.settled(linked, CloseReason(first.close_reason), cause)
        if first.status in (IN_PROGRESS, CLOSED):
            return self.work_started(linked, cause)
        return {}

    async def end_due_waits(self) -> None:
        """Every waiting inquiry whose date has come is in progress again.

        Runs before staff read inquiries, so that a list by status is right to the minute
        without a clock of its own; rows another request holds are left to it.
        """
        query = (
            sa.select(Inquiry)
            .where(_WAITING, inquiry_table.c.waiting_until <= self._caller.now)
            # In the index's order: ordered by id, SQLite would rather read the whole table.
            .order_by(inquiry_table.c.waiting_until)
            .with_for_update(skip_locked=True)
        )
        for inquiry in await self._session.scalars(query):
            self._end_wait_if_due(inquiry)
        await self._session.flush()

    def move(
        self,
        inquiry: Inquiry,
        to: InquiryStatus,
        *,
        reason: CloseReason | None = None,
        until: datetime | None = None,
        note: str | None = None,
        cause: str | None = None,
    ) -> None:
        """Move the inquiry as the caller chose (audited as inquiry.status); refused unless the
        table allows it."""
        current = InquiryStatus(inquiry.status)
        refuse_if_redacted(inquiry)
        if not allowed(current, inquiry.close_reason, to):
            if (current, to) == (CLOSED, NEW):
                raise TransitionNotAllowed("Only an inquiry closed as spam can be released.")
            raise TransitionNotAllowed(f"An inquiry that is {current} cannot become {to}.")
        if (to is CLOSED) != (reason is not None):
            raise InvalidStatusChange("A reason is given when, and only when, closing.")
        if to is WAITING:
            if until is None:
                raise InvalidStatusChange("Waiting needs the date it ends.")
            until = as_utc(until)
            now = self._caller.now
            if not now < until <= now + _FURTHEST_WAIT:
                raise InvalidSchedule("Choose a date after today, within a year.")
        elif until is not None:
            raise InvalidStatusChange("Only waiting has a date.")
        moved = self._apply(inquiry, to, reason=reason, until=until, note=note, cause=cause)
        record(self._session, self._caller, "inquiry.status", ("inquiry", inquiry.id), **moved)

    # Moves that follow from something else a staff member did: each is kept in the status
    # history, and its description returned for the audit entry of what caused it ({} when
    # nothing moved), so one action stays one entry.

    def work_started(self, inquiry: Inquiry, cause: str) -> dict[str, Any]:
        """Someone acted on it (a claim, an attempt, a note, an assignment): a new one is now
        in progress."""
        if inquiry.status != NEW:
            return {}
        return {"inquiry": self._apply(inquiry, IN_PROGRESS, cause=cause)}

    def taken_up(self, inquiry: Inquiry, cause: str, note: str | None = None) -> dict[str, Any]:
        """New or waiting, it is in progress now (a cancelled call leaves it so, with why)."""
        if inquiry.status not in (NEW, WAITING):
            return {}
        return {"inquiry": self._apply(inquiry, IN_PROGRESS, cause=cause, note=note)}

    def settled(self, inquiry: Inquiry, reason: CloseReason, cause: str) -> dict[str, Any]:
        """Closed by what happened (a call's outcome), unless it is closed already."""
        if inquiry.status == CLOSED:
            return {}
        return {"inquiry": self._apply(inquiry, CLOSED, reason=reason, cause=cause)}

    def _end_wait_if_due(self, inquiry: Inquiry) -> None:
        until = inquiry.waiting_until
        if inquiry.status == WAITING and until is not None and as_utc(until) <= self._caller.now:
            moved = self._apply(inquiry, IN_PROGRESS, cause=WAIT_OVER, by=self._nobody)
            record(self._session, self._nobody, "inquiry.status", ("inquiry", inquiry.id), **moved)

    def _apply(
        self,
        inquiry: Inquiry,
        to: InquiryStatus,
        *,
        reason: CloseReason | None = None,
        until: datetime | None = None,
        note: str | None = None,
        cause: str | None = None,
        by: Caller | None = None,
    ) -> dict[str, Any]:
        """Make the move and keep it; returns it as the audit log tells it (no free text: the
        note stays in the history, and causes are fixed words)."""
        caller = by or self._caller
        assert inquiry.id is not None
        current = inquiry.status
        inquiry.status = to.value
        inquiry.close_reason = reason.value if reason else None
        inquiry.waiting_until = until
        self._session.add(
            StatusChange(
                inquiry_id=inquiry.id,
                at=caller.now,
                staff_id=caller.staff_id,
                from_status=current,
                to_status=to.value,
                close_reason=inquiry.close_reason,
                cause=cause,
                until=until,
                note=note or None,
            )
        )
        moved: dict[str, Any] = {"from": current, "to": to.value, "note": bool(note)}
        if reason:
            moved["reason"] = reason.value
        if cause:
            moved["cause"] = cause
        if until:
            moved["until"] = until.isoformat()
        return moved
