"""Staff tables: accounts, API tokens, triage overrides and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class StaffRole(StrEnum):
    AGENT = "agent"  # works the callback queue, reads inquiries
    ADMIN = "admin"  # also manages staff, reads the audit log, exports


class TokenKind(StrEnum):
    API = "api"  # minted on the command line or by an admin; lives until revoked
    SESSION = "session"  # minted by signing in; expires


class Staff(SQLModel, table=True):
    """A member of the clinic's team who may use the staff API."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True, "nullable": False})
    name: str = Field(default="", max_length=120)
    role: str = Field(max_length=8)
    password_hash: str | None = Field(default=None, max_length=200)
    active: bool = True
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    last_login_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ApiToken(SQLModel, table=True):
    """A bearer token: only its SHA-256 is kept; the prefix identifies it in listings."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    kind: str = Field(max_length=8)
    label: str = Field(default="", max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True, "nullable": False})
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


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


class AuditEntry(SQLModel, table=True):
    """Who read or changed what, when, from where. `detail` is small JSON, never a message body."""

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_target", "target_type", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    action: str = Field(max_length=40, index=True)
    target_type: str | None = Field(default=None, max_length=20)
    target_id: str | None = Field(default=None, max_length=40)
    client_ip: str = Field(max_length=64)
    detail: str = Field(default="{}", sa_type=sa.Text)


staff_table: sa.Table = Staff.__table__  # type: ignore[attr-defined]
token_table: sa.Table = ApiToken.__table__  # type: ignore[attr-defined]
override_table: sa.Table = TriageOverride.__table__  # type: ignore[attr-defined]
audit_table: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
