"""Staff tables: corrections of the machine's triage, and notes on inquiries."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inquiry import models as _models  # noqa: F401 - inquiry.id and staff.id must be in metadata


class TriageOverride(SQLModel, table=True):
    """A person's correction of the machine's triage: before, after, who and why."""

    __tablename__ = "triage_override"

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id", index=True)
    staff_id: int = Field(foreign_key="staff.id")
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    old_topic: str = Field(max_length=16)
    new_topic: str = Field(max_length=16)
    old_priority: str = Field(max_length=8)
    new_priority: str = Field(max_length=8)
    reason: str = Field(max_length=500)


class InquiryNote(SQLModel, table=True):
    """A staff member's note on an inquiry: internal, never sent to the visitor."""

    __tablename__ = "inquiry_note"

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id", index=True)
    staff_id: int = Field(foreign_key="staff.id")
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    text: str = Field(sa_type=sa.Text)


override_table: sa.Table = TriageOverride.__table__  # type: ignore[attr-defined]
note_table: sa.Table = InquiryNote.__table__  # type: ignore[attr-defined]
