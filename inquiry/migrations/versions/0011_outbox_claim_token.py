"""Outbox claims carry a token of their own.

A worker's results were written to the rows still leased until the time its claim set, and
that time came from the worker's clock. Leases now end by the database's clock and are
renewed while a batch is sent, so the lease's end changes under the worker: each claim marks
its rows with a token instead, and writes only to rows that still carry it. Rows being sent
while the schema changes carry none: they return when their lease lapses, as after a crash.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox_message", sa.Column("claim_token", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as table:
        table.drop_column("claim_token")
