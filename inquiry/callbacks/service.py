"""Working the queue: claim, release, attempt, reschedule, cancel, reassign, decide.

Takes the request's session and flushes; the request commits. Every change is audited. The
inquiry follows its task through inquiry.lifecycle: the first claim puts it in progress, a
call that reached the visitor (or an email reply) closes it, and so on (the task's row is
locked first). Pacing (inquiry.callbacks.pacing) decides which calls count toward giving up;
an urgent task is never given up on its own but waits for an admin's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.audit import Caller, record
from inquiry.callbacks import pacing, queue, transitions
from inquiry.callbacks.models import (
    ACTIVE_STATUSES,
    OUTCOMES_OF,
    AttemptOutcome,
    CallbackAttempt,
    CallbackTask,
    Channel,
    TaskStatus,
    attempt_table,
)
from inquiry.config import Settings
from inquiry.errors import (
    ClaimConflict,
    Forbidden,
    InvalidSchedule,
    NotFound,
    ReasonRequired,
    TransitionNotAllowed,
)
from inquiry.lifecycle import Lifecycle
from inquiry.metrics import Metrics
from inquiry.models import CloseReason, Inquiry, Staff, StaffRole, as_utc
from inquiry.outbox import owe_decision_alert, owe_unreachable
from inquiry.triage.taxonomy import Priority

CLOSING = {AttemptOutcome.REACHED: TaskStatus.DONE, AttemptOutcome.DECLINED: TaskStatus.DONE}
RETRYING = frozenset({AttemptOutcome.NO_ANSWER, AttemptOutcome.BUSY, AttemptOutcome.VOICEMAIL})
_FURTHEST_RESCHEDULE = timedelta(days=366)
_REASON_TO_PUT_OFF = frozenset({Priority.URGENT.value, Priority.HIGH.value})


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task as staff see it: with its inquiry's reference and, when asked, its attempts."""

    task: CallbackTask
    reference: str
    attempts: list[CallbackAttempt]
    attempt_limit: int
    linked: list[str]  # references of the later inquiries this task answers too


def outcomes(task: CallbackTask) -> list[AttemptOutcome]:
    """The outcomes an attempt on this task may record, in the order staff are offered them."""
    allowed = OUTCOMES_OF[Channel(task.channel)]
    return [
        o
        for o in AttemptOutcome
        if o in allowed and (o is not AttemptOutcome.VOICEMAIL or task.voicemail_ok)
    ]


def holder(task: CallbackTask, now: datetime) -> int | None:
    """Who holds the task right now: nobody once the lease has lapsed."""
    if task.status != TaskStatus.CLAIMED or task.claimed_until is None:
        return None
    return task.claimed_by if as_utc(task.claimed_until) > now else None


class CallbackService:
    """The phone team's operations on callback tasks."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        caller: Caller,
        metrics: Metrics | None = None,
    ) -> None:
        assert caller.staff is not None
        assert caller.staff.id is not None
        self._session = session
        self._settings = settings
        self._caller = caller
        self._me: int = caller.staff.id
        self._admin = caller.staff.role == StaffRole.ADMIN
        self._now = caller.now
        self._lease = timedelta(minutes=settings.callback_lease_minutes)
        self._metrics = metrics
        self._lifecycle = Lifecycle(session, caller)

    async def view(self, task: CallbackTask, *, with_attempts: bool = False) -> TaskView:
        attempts: list[CallbackAttempt] = []
        if with_attempts:
            query = (
                sa.select(CallbackAttempt)
                .where(attempt_table.c.task_id == task.id)
                .order_by(attempt_table.c.id)
            )
            attempts = list(await self._session.scalars(query))
        reference = await queue.reference_of(self._session, task.inquiry_id)
        linked = await queue.linked_references(self._session, [task.inquiry_id])
        return TaskView(
            task,
            reference,
            attempts,
            pacing.attempt_limit(task, self._settings),
            linked.get(task.inquiry_id, []),
        )

    async def get(self, task_id: int, *, lock: bool = False) -> CallbackTask:
        """The task; `lock` holds its row until commit (PostgreSQL) so changes never cross."""
        task = await self._session.get(
            CallbackTask, task_id, with_for_update=lock or None, populate_existing=lock
        )
        if task is None:
            raise NotFound("There is no callback task with this id.")
        return task

    async def read(self, task_id: int) -> TaskView:
        """One task with its attempts (a read of the inquiry: audited)."""
        task = await self.get(task_id)
        record(self._session, self._caller, "callback.read", ("callback_task", task.id))
        return await self.view(task, with_attempts=True)

    async def page(
        self,
        *,
        statuses: list[TaskStatus] | None,
        mine: bool,
        on_call: bool | None,
        channel: Channel | None = None,
        limit: int,
        offset: int,
        priority: Priority | None = None,
    ) -> list[TaskView]:
        """A page of tasks: the active queue in call order unless statuses are given."""
        rows = await queue.queue_page(
            self._session,
            statuses=statuses,
            claimed_by=self._me if mine else None,
            on_call=on_call,
            priority=priority,
            channel=channel,
            limit=limit,
            offset=offset,
        )
        record(
            self._session,
            self._caller,
            "callback.list",
            statuses=[s.value for s in statuses or ()],
            tasks=[task.id for task, _ in rows],
        )
        linked = await queue.linked_references(self._session, [task.inquiry_id for task, _ in rows])
        return [
            TaskView(
                task,
                reference,
                [],
                pacing.attempt_limit(task, self._settings),
                linked.get(task.inquiry_id, []),
            )
            for task, reference in rows
        ]

    async def queue_version(self, *, shown: int) -> str:
        """A value that changes whenever the first `shown` tasks of the queue would look
        different, or a task arrives: what an open queue page polls (no inquiry is read, so
        nothing is audited)."""
        return await queue.version(self._session, shown=shown)

    async def claim_next(self) -> CallbackTask | None:
        """Claim the first claimable task in queue order; None when there is none."""
        task_id = await queue.next_claimable_id(self._session, self._now)
        if task_id is None:
            return None
        task = await self._session.get(CallbackTask, task_id, populate_existing=True)
        assert task is not None
        return self._take(task, "callback.claim_next", **await self._work_started(task))

    async def claim(self, task_id: int) -> CallbackTask:
        """Claim this task, or renew the lease on it when the caller already holds it."""
        task = await self._active(task_id)
        held_by = holder(task, self._now)
        if held_by is not None and held_by != self._me:
            raise ClaimConflict()
        if held_by == self._me:
            return self._take(task, "callback.renew")
        return self._take(task, "callback.claim", **await self._work_started(task))

    async def release(self, task_id: int) -> CallbackTask:
        task = await self._held(task_id)
        transitions.requeue(task)
        record(self._session, self._caller, "callback.release", ("callback_task", task.id))
        return task

    async def attempt(
        self, task_id: int, outcome: AttemptOutcome, note: str, *, keep_open: bool = False
    ) -> CallbackTask:
        """Record a call or an email reply: close, retry later, follow up in the other
        channel, give up, or (urgent) wait for an admin's decision.

        The inquiry closes with the task (resolved, or unreachable when nothing is left to
        try), unless the caller keeps it open. A call made before the retry interval has
        passed is recorded but does not count toward giving up.
        """
        task = await self._held(task_id)
        channel = Channel(task.channel)
        if outcome not in OUTCOMES_OF[channel]:
            allowed = ", ".join(sorted(o.value for o in OUTCOMES_OF[channel]))
            raise TransitionNotAllowed(f"The outcome of a {channel} task is one of: {allowed}.")
        if outcome is AttemptOutcome.VOICEMAIL and not task.voicemail_ok:
            raise TransitionNotAllowed("The visitor did not agree to a voicemail.")
        assert task.id is not None
        inquiry = await self._lifecycle.locked(task.inquiry_id)
        counted = pacing.counts(task, self._now, self._settings)
        self._session.add(
            CallbackAttempt(
                task_id=task.id,
                staff_id=self._me,
                at=self._now,
                outcome=outcome,
                note=note,
                counted=counted,
            )
        )
        task.attempts += 1
        if task.first_attempt_at is None:
            task.first_attempt_at = self._now
        if counted:
            task.counted_attempts += 1
            task.last_counted_at = self._now
        cause = f"callback attempt: {outcome.value}"
        if channel is Channel.EMAIL:
            moved = self._email_outcome(task, outcome, inquiry, cause, keep_open=keep_open)
        else:
            moved = await self._call_outcome(task, outcome, inquiry, cause, keep_open=keep_open)
        moved |= await self._linked_follow(inquiry)
        await self._session.flush()
        record(
            self._session,
            self._caller,
            "callback.attempt",
            ("callback_task", task.id),
            outcome=outcome.value,
            counted=counted,
            status=task.status,
            attempts=task.attempts,
            **moved,
        )
        if self._metrics is not None:
            waited = self._now - as_utc(task.created_at) if task.attempts == 1 else None
            self._metrics.callback_attempted(
                priority=task.priority,
                outcome=outcome.value,
                first_attempt_seconds=waited.total_seconds() if waited is not None else None,
            )
        return task

    async def reschedule(self, task_id: int, at: datetime, reason: str = "") -> CallbackTask:
        """Put the task back in the queue, not before the chosen time.

        Urgent and high-priority calls need a reason; only an admin puts an urgent call off
        beyond the next business day, and it stays due (overdue) when it was.
        """
        task = await self._unheld_or_mine(task_id)
        at = as_utc(at)
        if not self._now < at <= self._now + _FURTHEST_RESCHEDULE:
            raise InvalidSchedule()
        if task.priority in _REASON_TO_PUT_OFF and not reason:
            raise ReasonRequired()
        urgent = pacing.is_urgent(task)
        if urgent and at > pacing.furthest_without_admin(self._now, self._settings):
            if not self._admin:
                raise Forbidden(
                    "Only an admin puts an urgent call off beyond the next business day."
                )
        if urgent:
            transitions.put_off(task, at)
        else:
            transitions.schedule(task, at)
        task.reschedule_reason = reason or None
        record(
            self._session,
            self._caller,
            "callback.reschedule",
            ("callback_task", task.id),
            at=at.isoformat(),
            reason=bool(reason),
            **await self._work_started(task, "callback rescheduled"),
        )
        return task

    async def decide(
        self, task_id: int, *, close: bool, reason: str = "", attempts: int = 1
    ) -> CallbackTask:
        """An admin's decision on an urgent call that ran out of attempts: close it with a
        reason (the inquiry closes as unreachable), or allow more attempts."""
        if not self._admin:
            raise Forbidden("Only an admin decides on a call that ran out of attempts.")
        task = await self.get(task_id, lock=True)
        if task.status != TaskStatus.AWAITING_DECISION:
            raise TransitionNotAllowed(f"The task is {task.status}, not awaiting a decision.")
        inquiry = await self._lifecycle.locked(task.inquiry_id)
        if close:
            if not reason:
                raise ReasonRequired("Give the reason the call is closed.")
            self._close(task, TaskStatus.UNREACHABLE, reason)
            moved = self._lifecycle.settled(inquiry, CloseReason.UNREACHABLE, "callback decision")
        else:
            task.extra_attempts += attempts
            transitions.put_off(task, self._now)
            moved = {}
        moved |= await self._linked_follow(inquiry)
        record(
            self._session,
            self._caller,
            "callback.decision",
            ("callback_task", task.id),
            decision="close" if close else "more_attempts",
            attempts=0 if close else attempts,
            **moved,
        )
        return task

    async def cancel(self, task_id: int, reason: str) -> CallbackTask:
        task = await self._unheld_or_mine(task_id)
        self._close(task, TaskStatus.CANCELLED, reason)
        inquiry = await self._lifecycle.locked(task.inquiry_id)
        moved = self._lifecycle.taken_up(inquiry, "callback cancelled", note=reason)
        record(self._session, self._caller, "callback.cancel", ("callback_task", task.id), **moved)
        return task

    async def reassign(self, task_id: int, staff_id: int) -> CallbackTask:
        """Hand the task to another staff member on a fresh lease (admins)."""
        task = await self._active(task_id)
        staff = await self._session.get(Staff, staff_id)
        if staff is None or not staff.active:
            raise NotFound("There is no active staff account with this id.")
        previous = holder(task, self._now)
        moved = await self._work_started(task, "callback reassigned")
        self._hold_for(task, staff_id)
        record(
            self._session,
            self._caller,
            "callback.reassign",
            ("callback_task", task.id),
            to=staff_id,
            previous=previous,
            **moved,
        )
        return task

    # -- state changes --------------------------------------------------------------------

    def _take(self, task: CallbackTask, action: str, **detail: Any) -> CallbackTask:
        self._hold_for(task, self._me)
        record(self._session, self._caller, action, ("callback_task", task.id), **detail)
        return task

    def _hold_for(self, task: CallbackTask, staff_id: int | None) -> None:
        transitions.hold(task, staff_id, self._now + self._lease)

    def _close(self, task: CallbackTask, status: TaskStatus, reason: str) -> None:
        transitions.close(task, status, reason, self._now)

    def _email_outcome(
        self,
        task: CallbackTask,
        outcome: AttemptOutcome,
        inquiry: Inquiry,
        cause: str,
        *,
        keep_open: bool,
    ) -> dict[str, Any]:
        """Replied or no reply needed: done. Bounced: a call when there is a number."""
        if outcome is not AttemptOutcome.BOUNCED:
            self._close(task, TaskStatus.DONE, outcome.value)
            return self._settle(inquiry, CloseReason.RESOLVED, cause, keep_open=keep_open)
        self._close(task, TaskStatus.UNREACHABLE, outcome.value)
        if inquiry.phone:
            self._follow_up_by(inquiry, Channel.PHONE)
            return self._lifecycle.work_started(inquiry, cause)
        return self._settle(inquiry, CloseReason.UNREACHABLE, cause, keep_open=keep_open)

    async def _call_outcome(
        self,
        task: CallbackTask,
        outcome: AttemptOutcome,
        inquiry: Inquiry,
        cause: str,
        *,
        keep_open: bool,
    ) -> dict[str, Any]:
        if outcome in CLOSING:
            self._close(task, CLOSING[outcome], outcome.value)
            return self._settle(inquiry, CloseReason.RESOLVED, cause, keep_open=keep_open)
        urgent = pacing.is_urgent(task)
        if outcome in RETRYING:
            if task.counted_attempts < pacing.attempt_limit(task, self._settings):
                retry = pacing.retry_at(task, self._now, self._settings)
                (transitions.put_off if urgent else transitions.schedule)(task, retry)
                return self._lifecycle.work_started(inquiry, cause)
            if urgent:
                transitions.await_decision(task)
                await owe_decision_alert(
                    self._session,
                    inquiry,
                    self._settings,
                    now=self._now,
                    domain=self._settings.message_domain,
                )
                return self._lifecycle.work_started(inquiry, cause)
        # Given up: out of attempts, or a wrong number (at once, whatever the priority).
        self._close(task, TaskStatus.UNREACHABLE, outcome.value)
        if not urgent:
            # An urgent visitor is never told by an automatic email that nobody reached them.
            domain = self._settings.message_domain
            await owe_unreachable(self._session, inquiry, now=self._now, domain=domain)
        if outcome is AttemptOutcome.WRONG_NUMBER and inquiry.email:
            self._follow_up_by(inquiry, Channel.EMAIL)  # the address is left to try
            return self._lifecycle.work_started(inquiry, cause)
        return self._settle(inquiry, CloseReason.UNREACHABLE, cause, keep_open=keep_open)

    def _follow_up_by(self, inquiry: Inquiry, channel: Channel) -> None:
        transitions.follow_up_by(
            self._session, inquiry, channel, now=self._now, settings=self._settings
        )

    # -- the inquiry following its task -----------------------------------------------------

    async def _work_started(
        self, task: CallbackTask, cause: str = "callback claimed"
    ) -> dict[str, Any]:
        inquiry = await self._lifecycle.locked(task.inquiry_id)
        moved = self._lifecycle.work_started(inquiry, cause)
        return moved | await self._linked_follow(inquiry)

    async def _linked_follow(self, inquiry: Inquiry) -> dict[str, Any]:
        """The inquiries linked to this one follow it (its task answers them too)."""
        assert inquiry.id is not None
        followed = [
            self._lifecycle.follow(linked, inquiry)
            for linked in await self._lifecycle.linked(inquiry.id)
        ]
        count = sum(1 for moved in followed if moved)
        return {"linked_moved": count} if count else {}

    def _settle(
        self, inquiry: Inquiry, reason: CloseReason, cause: str, *, keep_open: bool
    ) -> dict[str, Any]:
        if keep_open:
            return self._lifecycle.work_started(inquiry, cause)
        return self._lifecycle.settled(inquiry, reason, cause)

    # -- preconditions --------------------------------------------------------------------

    async def _active(self, task_id: int) -> CallbackTask:
        """The task, open or claimed: one awaiting an admin's decision is the admin's."""
        task = await self.get(task_id, lock=True)
        if task.status == TaskStatus.AWAITING_DECISION:
            raise TransitionNotAllowed("The task awaits an admin's decision.")
        if task.status not in ACTIVE_STATUSES:
            raise TransitionNotAllowed(f"The task is {task.status}.")
        return task

    async def _held(self, task_id: int) -> CallbackTask:
        """The task, which the caller must hold (a lapsed lease nobody took still counts)."""
        task = await self._active(task_id)
        if task.status == TaskStatus.CLAIMED and task.claimed_by == self._me:
            return task
        if holder(task, self._now) is not None:
            raise ClaimConflict()
        raise TransitionNotAllowed("Claim the task first.")

    async def _unheld_or_mine(self, task_id: int) -> CallbackTask:
        task = await self._active(task_id)
        held_by = holder(task, self._now)
        if held_by is not None and held_by != self._me:
            raise ClaimConflict()
        return task
