"""Each callback task keeps the time it was first due and the time of its first attempt.

A task's due_at moves when it is rescheduled, re-ranked or reopened, so the dashboard's
service level (tasks first attempted before they were due) needs the time promised when
the task was made: first_due_at, set from due_at for the tasks already stored (for a task
rescheduled before this revision that is the time it is due now, the best left to know).
first_attempt_at, the earliest of the task's attempts, lets the service level and the time
to first attempt read the task table alone.

Indexes for the dashboard: the tasks by creation with the columns its figures read, and the
inquiries by arrival with their topic (in place of the index on arrival alone, which it
serves as well), so each figure reads an index rather than the rows.

SQLite adds a NOT NULL column in place only with a constant default: the column keeps one
there (the epoch), which no row uses, since every task is made with its first due time
(inquiry.callbacks.tasks.task_row). PostgreSQL adds the column empty, fills it, then
refuses empties.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_TASK_FIGURES = ["created_at", "priority", "first_attempt_at", "first_due_at", "closed_at"]
_FIRST_ATTEMPT = (
    "UPDATE callback_task SET first_attempt_at ="
    " (SELECT min(a.at) FROM callback_attempt a WHERE a.task_id = callback_task.id)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.add_column(
            "callback_task",
            sa.Column(
                "first_due_at", _TS, nullable=False, server_default="1970-01-01 00:00:00.000000"
            ),
        )
        op.execute("UPDATE callback_task SET first_due_at = due_at")
    else:
        op.add_column("callback_task", sa.Column("first_due_at", _TS, nullable=True))
        op.execute("UPDATE callback_task SET first_due_at = due_at")
        op.alter_column("callback_task", "first_due_at", existing_type=_TS, nullable=False)
    op.add_column("callback_task", sa.Column("first_attempt_at", _TS, nullable=True))
    op.execute(_FIRST_ATTEMPT)
    op.create_index("ix_callback_task_created_at", "callback_task", _TASK_FIGURES)
    op.drop_index("ix_inquiry_created_at", table_name="inquiry")
    op.create_index("ix_inquiry_created_at_topic", "inquiry", ["created_at", "id", "topic"])


def downgrade() -> None:
    op.drop_index("ix_inquiry_created_at_topic", table_name="inquiry")
    op.create_index("ix_inquiry_created_at", "inquiry", ["created_at"])
    op.drop_index("ix_callback_task_created_at", table_name="callback_task")
    op.drop_column("callback_task", "first_attempt_at")
    op.drop_column("callback_task", "first_due_at")
