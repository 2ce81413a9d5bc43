"""Request and response shapes of the callback queue API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from inquiry.callbacks.models import ACTIVE_STATUSES, AttemptOutcome, Channel, TaskStatus
from inquiry.callbacks.service import TaskView, holder
from inquiry.models import MAX_ROW_ID, as_utc, as_utc_or_none

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class AttemptOut(BaseModel):
    at: datetime
    staff_id: int
    outcome: AttemptOutcome
    note: str
    # False: made before the retry interval had passed since the last counted attempt, so
    # it does not count toward giving up.
    counted: bool


class CallbackTaskOut(BaseModel):
    """A task as the team sees it. `status` is what holds now: a lapsed claim is open.

    `channel` says how the visitor is answered: `phone` (a call back to `phone`) or `email`
    (a reply from the admin inbox to `email`). `linked` lists the references of the same
    person's later inquiries that this task answers too.
    """

    id: int
    inquiry_id: int
    reference: str
    linked: list[str] = Field(default_factory=list)
    channel: Channel
    name: str
    phone: str | None
    email: str | None
    language: str
    callback_window: str
    voicemail_ok: bool
    priority: str
    on_call: bool
    status: TaskStatus
    created_at: datetime
    due_at: datetime
    overdue: bool
    next_attempt_at: datetime
    claimed_by: int | None
    claimed_until: datetime | None
    attempts: int
    counted_attempts: int  # toward giving up
    attempt_limit: int  # counted attempts before giving up, or before an admin decides
    reschedule_reason: str | None
    closed_at: datetime | None
    close_reason: str | None
    history: list[AttemptOut] = Field(default_factory=list)

    @classmethod
    def of(cls, view: TaskView, now: datetime) -> CallbackTaskOut:
        task = view.task
        assert task.id is not None
        held_by = holder(task, now)
        status = TaskStatus(task.status)
        if status is TaskStatus.CLAIMED and held_by is None:
            status = TaskStatus.OPEN
        due_at = as_utc(task.due_at)
        return cls(
            id=task.id,
            inquiry_id=task.inquiry_id,
            reference=view.reference,
            linked=view.linked,
            channel=Channel(task.channel),
            name=task.name,
            phone=task.phone,
            email=task.email,
            language=task.language,
            callback_window=task.callback_window,
            voicemail_ok=task.voicemail_ok,
            priority=task.priority,
            on_call=task.on_call,
            status=status,
            created_at=as_utc(task.created_at),
            due_at=due_at,
            overdue=status in ACTIVE_STATUSES and due_at < now,
            next_attempt_at=as_utc(task.next_attempt_at),
            claimed_by=held_by,
            claimed_until=as_utc_or_none(task.claimed_until) if held_by else None,
            attempts=task.attempts,
            counted_attempts=task.counted_attempts,
            attempt_limit=view.attempt_limit,
            reschedule_reason=task.reschedule_reason,
            closed_at=as_utc_or_none(task.closed_at),
            close_reason=task.close_reason,
            history=[
                AttemptOut(
                    at=as_utc(a.at),
                    staff_id=a.staff_id,
                    outcome=AttemptOutcome(a.outcome),
                    note=a.note,
                    counted=a.counted,
                )
                for a in view.attempts
            ],
        )


class CallbackPage(BaseModel):
    tasks: list[CallbackTaskOut]
    limit: int
    offset: int


class ClaimNextOut(BaseModel):
    """The claimed task, or `null` when nothing is waiting (an empty queue is not an error)."""

    task: CallbackTaskOut | None


class AttemptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: AttemptOutcome
    note: Note = ""
    # A call that would close the inquiry (reached, declined, unreachable) leaves it in
    # progress instead: there is more to do.
    keep_open: bool = False


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    # Needed for urgent and high-priority calls.
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class DecisionIn(BaseModel):
    """An admin's decision on an urgent call that ran out of attempts."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["close", "more_attempts"]
    # Needed to close; kept as the task's close reason.
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    attempts: Annotated[int, Field(ge=1, le=10)] = 1  # more attempts allowed


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
