"""The staff console's language for each staff member (en or fr; English unless chosen).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a default, which SQLite does in place (see 0006).
    op.add_column("staff", sa.Column("language", sa.String(2), nullable=False, server_default="en"))


def downgrade() -> None:
    op.drop_column("staff", "language")
