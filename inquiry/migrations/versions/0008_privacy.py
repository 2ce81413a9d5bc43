"""Privacy duties: when an inquiry's personal details were removed, and erasure tombstones.

inquiry.redacted_at is set when retention or an erasure removes an inquiry's contact details
and message (its reference, topic and dates stay). inquiry_erasure keeps, for each inquiry
erased on request, when, by whom and why.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN, in place on SQLite: a batch copy of `inquiry` would have to drop a
    # table that other tables' foreign keys point at.
    op.add_column("inquiry", sa.Column("redacted_at", _TS, nullable=True))
    op.create_table(
        "inquiry_erasure",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "inquiry_id", sa.Integer(), sa.ForeignKey("inquiry.id"), nullable=False, unique=True
        ),
        sa.Column("at", _TS, nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id")),
        sa.Column("erased_by", sa.String(254), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inquiry_erasure")
    op.drop_column("inquiry", "redacted_at")
