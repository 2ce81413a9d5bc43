"""Staff tables: corrections of the machine's triage, notes on inquiries, two-factor recovery
codes."""

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


class RecoveryCode(SQLModel, table=True):
    """A one-time code that stands in for the authenticator app; only its SHA-256 is kept."""

    __tablename__ = "staff_recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    code_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True, "nullable": False})
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


recovery_code_table: sa.Table = RecoveryCode.__table__  # type: ignore[attr-defined]


note_table: sa.Table = InquiryNote.__table__  # type: ignore[attr-defined]
