"""Callbacks and staff: staff, api_token, callback_task, callback_attempt, triage_override,
audit_entry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ACTIVE = "status IN ('open', 'claimed')"


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_login_at", _TS),
    )

    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS),
        sa.Column("last_used_at", _TS),
        sa.Column("revoked_at", _TS),
    )
    op.create_index("ix_api_token_staff_id", "api_token", ["staff_id"])

    op.create_table(
        "callback_task",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "inquiry_id", sa.Integer(), sa.ForeignKey("inquiry.id"), nullable=False, unique=True
        ),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("callback_window", sa.String(12), nullable=False),
        sa.Column("voicemail_ok", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("queue_band", sa.Integer(), nullable=False),
        sa.Column("on_call", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("claimed_by", sa.Integer(), sa.ForeignKey("staff.id")),
        sa.Column("claimed_until", _TS),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("closed_at", _TS),
        sa.Column("close_reason", sa.String(500)),
    )
    # The queue: open and claimed tasks in call order. Partial, so finished work (most rows,
    # after a while) costs the queue nothing.
    op.create_index(
        "ix_callback_task_queue",
        "callback_task",
        ["queue_band", "due_at", "created_at", "id"],
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    # Deliberately no index led by status: without statistics SQLite would choose it for the
    # queue (status IN (...)) and sort the whole backlog instead of walking the queue index.
    op.create_index("ix_callback_task_closed_at", "callback_task", ["closed_at"])
    op.create_index("ix_callback_task_claimed_by", "callback_task", ["claimed_by"])

    op.create_table(
        "callback_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("callback_task.id"), nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.String(1000), nullable=False),
    )
    op.create_index("ix_callback_attempt_task_id", "callback_attempt", ["task_id"])

    op.create_table(
        "triage_override",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inquiry_id", sa.Integer(), sa.ForeignKey("inquiry.id"), nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("old_topic", sa.String(16), nullable=False),
        sa.Column("new_topic", sa.String(16), nullable=False),
        sa.Column("old_priority", sa.String(8), nullable=False),
        sa.Column("new_priority", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_triage_override_inquiry_id", "triage_override", ["inquiry_id"])

    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id")),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target_type", sa.String(20)),
        sa.Column("target_id", sa.String(40)),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_entry_at", "audit_entry", ["at"])
    op.create_index("ix_audit_entry_staff_id", "audit_entry", ["staff_id"])
    op.create_index("ix_audit_entry_action", "audit_entry", ["action"])
    op.create_index("ix_audit_entry_target", "audit_entry", ["target_type", "target_id"])


def downgrade() -> None:
    op.drop_table("audit_entry")
    op.drop_table("triage_override")
    op.drop_table("callback_attempt")
    op.drop_table("callback_task")
    op.drop_table("api_token")
    op.drop_table("staff")
