"""The status history of inquiries: every move, who made it (or none), when, and why."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inquiry import models as _models  # noqa: F401 - inquiry.id and staff.id must be in metadata


class StatusChange(SQLModel, table=True):
    """One move of an inquiry's status."""

    __tablename__ = "inquiry_status_change"

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id", index=True)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    staff_id: int | None = Field(default=None, foreign_key="staff.id")  # None: automatic
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    close_reason: str | None = Field(default=None, max_length=16)
    # What moved it when no one chose the status: "callback claimed", "waiting date reached"…
    cause: str | None = Field(default=None, max_length=500)
    until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    note: str | None = Field(default=None, sa_type=sa.Text)  # staff's, never sent to the visitor


status_change_table: sa.Table = StatusChange.__table__  # type: ignore[attr-defined]
