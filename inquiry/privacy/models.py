"""The erasure tombstone: what stays of an inquiry erased on request, and who erased it, why."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inquiry import models as _models  # noqa: F401 - inquiry.id and staff.id must be in metadata


class Erasure(SQLModel, table=True):
    """An inquiry erased on the visitor's request. Its reference and dates stay on the
    inquiry's own row; this row says when, by whom and why, so the audit trail stays readable."""

    __tablename__ = "inquiry_erasure"

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id", sa_column_kwargs={"unique": True})
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    # A staff account's email address, or the system account that ran the command.
    erased_by: str = Field(max_length=254)
    reason: str = Field(max_length=500)


erasure_table: sa.Table = Erasure.__table__  # type: ignore[attr-defined]
