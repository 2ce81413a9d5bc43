"""Two-factor sign-in for staff: a TOTP secret per account, recovery codes, and sessions that
record whether they passed the second factor.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


# Plain ADD and DROP COLUMN, which SQLite (3.35 and later) does in place: a batch copy of
# `staff` would have to drop a table that other tables' foreign keys point at.
_STAFF_COLUMNS = ("totp_secret", "totp_pending_secret", "totp_enabled_at", "totp_last_counter")


def upgrade() -> None:
    op.add_column("staff", sa.Column("totp_secret", sa.String(64), nullable=True))
    op.add_column("staff", sa.Column("totp_pending_secret", sa.String(64), nullable=True))
    op.add_column("staff", sa.Column("totp_enabled_at", _TS, nullable=True))
    op.add_column("staff", sa.Column("totp_last_counter", sa.BigInteger(), nullable=True))
    op.add_column(
        "api_token",
        sa.Column("second_factor", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "staff_recovery_code",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
    )
    op.create_index("ix_staff_recovery_code_staff_id", "staff_recovery_code", ["staff_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_recovery_code_staff_id", "staff_recovery_code")
    op.drop_table("staff_recovery_code")
    op.drop_column("api_token", "second_factor")
    for column in reversed(_STAFF_COLUMNS):
        op.drop_column("staff", column)
