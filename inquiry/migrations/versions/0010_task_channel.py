"""Task channels, attempt pacing and linked duplicates.

callback_task: a channel ('phone' for every existing task) and the visitor's email; the phone
becomes optional (email tasks have none); an inquiry may have several tasks one after the
other (a bounced email is followed by a call), so inquiry_id is no longer unique; statuses
grow to 'awaiting_decision', which the queue index now covers; counted attempts (every
existing attempt counts), the time of the last counted one, extra attempts an admin allowed,
and the reason a task was put off. callback_attempt: whether each attempt counted.
inquiry: duplicate_of, the same person's open inquiry this one is linked to.

SQLite cannot drop a unique column constraint or make a column nullable in place: the task
table is made again and its rows copied, with foreign keys checked at commit.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-19
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ACTIVE_BEFORE = "status IN ('open', 'claimed')"
_ACTIVE = "status IN ('open', 'claimed', 'awaiting_decision')"
_QUEUE_COLUMNS = ["queue_band", "due_at", "created_at", "id"]
_NEW_COLUMNS = (
    "channel",
    "email",
    "counted_attempts",
    "last_counted_at",
    "extra_attempts",
    "reschedule_reason",
)
# Each existing task's email address and the time of its latest attempt.
_EMAIL = "(SELECT i.email FROM inquiry i WHERE i.id = {task}.inquiry_id)"
_LAST_ATTEMPT = "(SELECT max(a.at) FROM callback_attempt a WHERE a.task_id = {task}.id)"


def _task_table(name: str, *, channels: bool) -> sa.Table:
    """callback_task as this revision leaves it (`channels`) or as 0007 had it."""
    columns: list[sa.Column[Any]] = [
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "inquiry_id",
            sa.Integer(),
            sa.ForeignKey("inquiry.id"),
            nullable=False,
            unique=not channels,
        ),
        sa.Column("phone", sa.String(20), nullable=channels),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("callback_window", sa.String(12), nullable=False),
        sa.Column("voicemail_ok", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("queue_band", sa.Integer(), nullable=False),
        sa.Column("on_call", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20 if channels else 12), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("claimed_by", sa.Integer(), sa.ForeignKey("staff.id")),
        sa.Column("claimed_until", _TS),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("closed_at", _TS),
        sa.Column("close_reason", sa.String(500)),
    ]
    if channels:
        columns += [
            sa.Column("channel", sa.String(8), nullable=False),
            sa.Column("email", sa.String(254)),
            sa.Column("counted_attempts", sa.Integer(), nullable=False),
            sa.Column("last_counted_at", _TS),
            sa.Column("extra_attempts", sa.Integer(), nullable=False),
            sa.Column("reschedule_reason", sa.String(500)),
        ]
    metadata = sa.MetaData()
    for referred in ("inquiry", "staff"):  # what the foreign keys name; never created here
        sa.Table(referred, metadata, sa.Column("id", sa.Integer(), primary_key=True))
    return sa.Table(name, metadata, *columns)


def _task_indexes(*, channels: bool) -> None:
    where = _ACTIVE if channels else _ACTIVE_BEFORE
    op.create_index(
        "ix_callback_task_queue",
        "callback_task",
        _QUEUE_COLUMNS,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )
    op.create_index("ix_callback_task_closed_at", "callback_task", ["closed_at"])
    op.create_index("ix_callback_task_claimed_by", "callback_task", ["claimed_by"])
    if channels:
        op.create_index("ix_callback_task_inquiry_id", "callback_task", ["inquiry_id"])
        _channel_queue_index()


def _channel_queue_index() -> None:
    op.create_index(
        "ix_callback_task_channel_queue",
        "callback_task",
        ["channel", *_QUEUE_COLUMNS],
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )


def _rebuild_tasks(*, channels: bool) -> None:
    """SQLite: make callback_task again in the other shape, its rows put back into it.

    As 0007 does for inquiry: the rows are put aside, the table made again, and the rows put
    back, so callback_attempt's references are checked at commit against the new table (a
    renamed copy would leave them counted as broken).
    """
    table = _task_table("callback_task", channels=channels)
    kept = ", ".join(c.name for c in table.columns if c.name not in _NEW_COLUMNS)
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TEMP TABLE callback_task_0008 AS SELECT * FROM callback_task")
    op.drop_table("callback_task")
    table.create(op.get_bind())
    if channels:
        copied = f"{kept}, channel, email, counted_attempts, last_counted_at, extra_attempts"
        email, last = _EMAIL.format(task="old"), _LAST_ATTEMPT.format(task="old")
        source = f"{kept}, 'phone', {email}, attempts, {last}, 0"
    else:
        copied = source = kept
    op.execute(
        f"INSERT INTO callback_task ({copied})"  # noqa: S608 - our own column names
        f" SELECT {source} FROM temp.callback_task_0008 old"
    )
    op.execute("DROP TABLE temp.callback_task_0008")
    _task_indexes(channels=channels)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        _rebuild_tasks(channels=True)
        op.execute("ALTER TABLE inquiry ADD COLUMN duplicate_of INTEGER REFERENCES inquiry (id)")
    else:
        op.drop_constraint("callback_task_inquiry_id_key", "callback_task", type_="unique")
        op.alter_column("callback_task", "phone", existing_type=sa.String(20), nullable=True)
        op.alter_column("callback_task", "status", existing_type=sa.String(12), type_=sa.String(20))
        op.add_column(
            "callback_task",
            sa.Column("channel", sa.String(8), nullable=False, server_default="phone"),
        )
        op.alter_column("callback_task", "channel", server_default=None)
        op.add_column("callback_task", sa.Column("email", sa.String(254)))
        op.add_column(
            "callback_task",
            sa.Column("counted_attempts", sa.Integer(), nullable=False, server_default="0"),
        )
        op.alter_column("callback_task", "counted_attempts", server_default=None)
        op.add_column("callback_task", sa.Column("last_counted_at", _TS))
        op.add_column(
            "callback_task",
            sa.Column("extra_attempts", sa.Integer(), nullable=False, server_default="0"),
        )
        op.alter_column("callback_task", "extra_attempts", server_default=None)
        op.add_column("callback_task", sa.Column("reschedule_reason", sa.String(500)))
        email = _EMAIL.format(task="callback_task")
        last = _LAST_ATTEMPT.format(task="callback_task")
        op.execute(
            f"UPDATE callback_task SET counted_attempts = attempts, email = {email},"  # noqa: S608
            f" last_counted_at = {last}"
        )
        op.drop_index("ix_callback_task_queue", table_name="callback_task")
        op.create_index(
            "ix_callback_task_queue",
            "callback_task",
            _QUEUE_COLUMNS,
            postgresql_where=sa.text(_ACTIVE),
        )
        op.create_index("ix_callback_task_inquiry_id", "callback_task", ["inquiry_id"])
        _channel_queue_index()
        op.add_column(
            "inquiry", sa.Column("duplicate_of", sa.Integer(), sa.ForeignKey("inquiry.id"))
        )
    op.add_column(
        "callback_attempt",
        sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_index(
        "ix_inquiry_duplicate_of",
        "inquiry",
        ["duplicate_of"],
        sqlite_where=sa.text("duplicate_of IS NOT NULL"),
        postgresql_where=sa.text("duplicate_of IS NOT NULL"),
    )


def downgrade() -> None:
    """Email tasks go, and every phone task but an inquiry's latest (0007 had one call per
    inquiry); a task awaiting a decision is open again."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    gone = (
        "SELECT t.id FROM callback_task t WHERE t.channel = 'email' OR t.id <"
        " (SELECT max(l.id) FROM callback_task l"
        " WHERE l.inquiry_id = t.inquiry_id AND l.channel = 'phone')"
    )
    op.execute(f"DELETE FROM callback_attempt WHERE task_id IN ({gone})")  # noqa: S608
    ids = [row[0] for row in bind.execute(sa.text(gone))]
    if ids:
        bind.execute(
            sa.text("DELETE FROM callback_task WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
    op.execute("UPDATE callback_task SET status = 'open' WHERE status = 'awaiting_decision'")
    op.drop_index("ix_inquiry_duplicate_of", table_name="inquiry")
    if sqlite:
        op.execute("ALTER TABLE callback_attempt DROP COLUMN counted")
        _rebuild_tasks(channels=False)
        op.execute("ALTER TABLE inquiry DROP COLUMN duplicate_of")
        return
    op.drop_column("callback_attempt", "counted")
    op.drop_column("inquiry", "duplicate_of")
    op.drop_index("ix_callback_task_inquiry_id", table_name="callback_task")
    op.drop_index("ix_callback_task_channel_queue", table_name="callback_task")
    op.drop_index("ix_callback_task_queue", table_name="callback_task")
    for column in _NEW_COLUMNS:
        op.drop_column("callback_task", column)
    op.alter_column("callback_task", "phone", existing_type=sa.String(20), nullable=False)
    op.alter_column("callback_task", "status", existing_type=sa.String(20), type_=sa.String(12))
    op.create_unique_constraint("callback_task_inquiry_id_key", "callback_task", ["inquiry_id"])
    op.create_index(
        "ix_callback_task_queue",
        "callback_task",
        _QUEUE_COLUMNS,
        postgresql_where=sa.text(_ACTIVE_BEFORE),
    )
