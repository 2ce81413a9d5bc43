"""Callback tables: the task owed on an inquiry, and every attempt made on it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inquiry import models as _models  # noqa: F401 - inquiry.id and staff.id must be in metadata


class TaskStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"
    # An urgent task whose counted attempts ran out: never closed on its own, it stays at the
    # top of the queue (not claimable) until an admin closes it or allows more attempts.
    AWAITING_DECISION = "awaiting_decision"


class Channel(StrEnum):
    """How the visitor is answered: called back, or replied to from the admin inbox."""

    PHONE = "phone"
    EMAIL = "email"


ACTIVE_STATUSES = frozenset({TaskStatus.OPEN, TaskStatus.CLAIMED, TaskStatus.AWAITING_DECISION})


class AttemptOutcome(StrEnum):
    REACHED = "reached"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    DECLINED = "declined"
    # Email tasks
    REPLIED = "replied"
    NO_REPLY_NEEDED = "no_reply_needed"
    BOUNCED = "bounced"


PHONE_OUTCOMES = frozenset(
    {
        AttemptOutcome.REACHED,
        AttemptOutcome.VOICEMAIL,
        AttemptOutcome.NO_ANSWER,
        AttemptOutcome.BUSY,
        AttemptOutcome.WRONG_NUMBER,
        AttemptOutcome.DECLINED,
    }
)
EMAIL_OUTCOMES = frozenset(
    {AttemptOutcome.REPLIED, AttemptOutcome.NO_REPLY_NEEDED, AttemptOutcome.BOUNCED}
)
OUTCOMES_OF = {Channel.PHONE: PHONE_OUTCOMES, Channel.EMAIL: EMAIL_OUTCOMES}


# Literal SQL on purpose: the partial queue index is only chosen (by SQLite) when a query
# repeats its WHERE clause word for word, which a bound parameter never does.
ACTIVE_SQL = "status IN ('open', 'claimed', 'awaiting_decision')"


class CallbackTask(SQLModel, table=True):
    """A reply owed to a visitor: a call back (phone) or an email from the admin inbox."""

    __tablename__ = "callback_task"
    __table_args__ = (
        # Serves the queue order and "claim next": band (urgent first), due time, age. The
        # priority and status go last so the open calls by priority read the index alone.
        sa.Index(
            "ix_callback_task_queue",
            "queue_band",
            "due_at",
            "created_at",
            "id",
            "priority",
            "status",
            sqlite_where=sa.text(ACTIVE_SQL),
            postgresql_where=sa.text(ACTIVE_SQL),
        ),
        # One channel's queue (?channel=): without it, PostgreSQL with no statistics yet sorts
        # every active task of both channels (180 ms at 100,000 tasks) instead of walking one.
        sa.Index(
            "ix_callback_task_channel_queue",
            "channel",
            "queue_band",
            "due_at",
            "created_at",
            "id",
            sqlite_where=sa.text(ACTIVE_SQL),
            postgresql_where=sa.text(ACTIVE_SQL),
        ),
        # Finished work, newest first. Deliberately no index led by status: without planner
        # statistics SQLite would pick it for the queue and sort the whole backlog.
        sa.Index("ix_callback_task_closed_at", "closed_at"),
        # The tasks made since a day, with what the dashboard's service level and time to
        # first attempt read: served from the index alone, not the rows.
        sa.Index(
            "ix_callback_task_created_at",
            "created_at",
            "priority",
            "first_attempt_at",
            "first_due_at",
            "closed_at",
        ),
        # An inquiry's tasks: a bounced email task is followed by a phone task, and so on.
        sa.Index("ix_callback_task_inquiry_id", "inquiry_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id")
    channel: str = Field(default=Channel.PHONE.value, max_length=8)
    phone: str | None = Field(default=None, max_length=20)  # always set on phone tasks
    email: str | None = Field(default=None, max_length=254)  # always set on email tasks
    name: str = Field(max_length=120)
    language: str = Field(max_length=2)
    callback_window: str = Field(max_length=12)
    voicemail_ok: bool
    priority: str = Field(max_length=8)
    priority_rank: int  # PRIORITY_RANK: 0 urgent … 3 low
    queue_band: int  # 0 urgent, 1 everything else: urgent calls come before all others
    on_call: bool  # urgent: the on-call clinician is told, whatever the hour
    status: str = Field(max_length=20)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # Urgent tasks keep the time they were first due: they stay overdue until someone reaches
    # the visitor, whatever the next attempt's time.
    due_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # When the task was first due, kept through reschedules: the service level is measured
    # against what was promised when the task was made.
    first_due_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    next_attempt_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # not before
    claimed_by: int | None = Field(default=None, foreign_key="staff.id", index=True)
    claimed_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    attempts: int = 0  # every attempt recorded
    # The first attempt's time, kept on the task so the dashboard's service level and time
    # to first attempt read one table (joined to the attempts they took 0.4-0.9 s at 100,000).
    first_attempt_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Attempts that count toward giving up: each at least the retry interval after the last.
    counted_attempts: int = 0
    last_counted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    extra_attempts: int = 0  # allowed by an admin beyond the configured maximum
    reschedule_reason: str | None = Field(default=None, max_length=500)
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    close_reason: str | None = Field(default=None, max_length=500)


class CallbackAttempt(SQLModel, table=True):
    """One call made on a task, with its outcome and the caller's note."""

    __tablename__ = "callback_attempt"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="callback_task.id", index=True)
    staff_id: int = Field(foreign_key="staff.id")
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    outcome: str = Field(max_length=16)
    note: str = Field(default="", max_length=1000)
    counted: bool = True  # toward giving up; False when made before the retry interval passed


task_table: sa.Table = CallbackTask.__table__  # type: ignore[attr-defined]
attempt_table: sa.Table = CallbackAttempt.__table__  # type: ignore[attr-defined]
