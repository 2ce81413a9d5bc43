"""The embedding site's label for the admin email's subject.

A clinic site moving from a hosted form backend keeps its `_subject` field (e.g. "Referral
form"); the admin email's subject ends with it, so the inbox tells the site's forms apart.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inquiry", sa.Column("form_subject", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("inquiry", "form_subject")
