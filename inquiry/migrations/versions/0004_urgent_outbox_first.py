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


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as table:
        table.drop_column("urgent")
