"""Urgent outbox messages are claimed first.

Claims took the oldest due rows first. After the mail server had been down for hours, a
crisis alert queued behind the whole backlog. outbox_message.urgent marks everything owed on
a crisis inquiry and every on-call alert; the worker claims those first. Rows already queued
are marked by the same rule.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The rows a claim may take; the claim's WHERE names them too.
_CLAIMABLE = "status IN ('pending', 'sending')"


def upgrade() -> None:
    op.add_column(
        "outbox_message",
        sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE outbox_message SET urgent = true"
        " WHERE kind IN ('urgent_alert', 'urgent_webhook')"
        " OR inquiry_id IN (SELECT id FROM inquiry WHERE crisis)"
    )
    op.create_index(
        "ix_outbox_message_claim",
        "outbox_message",
        [sa.text("urgent DESC"), "next_attempt_at", "id"],
        sqlite_where=sa.text(_CLAIMABLE),
        postgresql_where=sa.text(_CLAIMABLE),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_message_claim", table_name="outbox_message")
    with op.batch_alter_table("outbox_message") as table:
        table.drop_column("urgent")
