"""Intake: inquiry, outbox_message, idempotency_record.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inquiry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("quarantine_reason", sa.String(32)),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(20)),
        sa.Column("preferred_contact", sa.String(8), nullable=False),
        sa.Column("callback_window", sa.String(12), nullable=False),
        sa.Column("voicemail_ok", sa.Boolean(), nullable=False),
        sa.Column("visitor_topic", sa.String(16)),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("source_page", sa.String(500)),
        sa.Column("topic", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("crisis", sa.Boolean(), nullable=False),
        sa.Column("triage_reasons", sa.Text(), nullable=False),
    )
    for column in ("created_at", "status", "email", "topic", "priority", "crisis"):
        op.create_index(f"ix_inquiry_{column}", "inquiry", [column])

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inquiry_id", sa.Integer(), sa.ForeignKey("inquiry.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("claimed_until", _TS),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS),
    )
    op.create_index("ix_outbox_message_inquiry_id", "outbox_message", ["inquiry_id"])
    op.create_index("ix_outbox_message_due", "outbox_message", ["status", "next_attempt_at"])

    op.create_table(
        "idempotency_record",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("inquiry_id", sa.Integer(), sa.ForeignKey("inquiry.id"), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_index("ix_idempotency_record_expires_at", "idempotency_record", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_record")
    op.drop_table("outbox_message")
    op.drop_table("inquiry")
