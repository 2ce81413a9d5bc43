"""Request and response shapes of the callback queue API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from inquiry.callbacks.models import AttemptOutcome, TaskStatus
from inquiry.callbacks.service import TaskView, holder
from inquiry.models import MAX_ROW_ID, as_utc, as_utc_or_none

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class AttemptOut(BaseModel):
    at: datetime
    staff_id: int
    outcome: AttemptOutcome
    note: str


class CallbackTaskOut(BaseModel):
    """A task as the phone team sees it. `status` is what holds now: a lapsed claim is open."""

    id: int
    inquiry_id: int
    reference: str
    name: str
    phone: str
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
            name=task.name,
            phone=task.phone,
            language=task.language,
            callback_window=task.callback_window,
            voicemail_ok=task.voicemail_ok,
            priority=task.priority,
            on_call=task.on_call,
            status=status,
            created_at=as_utc(task.created_at),
            due_at=due_at,
            overdue=status in (TaskStatus.OPEN, TaskStatus.CLAIMED) and due_at < now,
            next_attempt_at=as_utc(task.next_attempt_at),
            claimed_by=held_by,
            claimed_until=as_utc_or_none(task.claimed_until) if held_by else None,
            attempts=task.attempts,
            closed_at=as_utc_or_none(task.closed_at),
            close_reason=task.close_reason,
            history=[
                AttemptOut(
                    at=as_utc(a.at),
                    staff_id=a.staff_id,
                    outcome=AttemptOutcome(a.outcome),
                    note=a.note,
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


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
