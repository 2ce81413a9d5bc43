"""The audit log: one row for every staff read of an inquiry and every change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.models import AuditEntry, Staff, audit_table


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is acting, from where, and the request's one reading of the clock."""

    staff: Staff | None  # None for the command line and failed sign-ins
    client_ip: str
    now: datetime

    @property
    def staff_id(self) -> int | None:
        return self.staff.id if self.staff else None


def record(
    session: AsyncSession,
    caller: Caller,
    action: str,
    target: tuple[str, object] | None = None,
    **detail: Any,
) -> None:
    """Add an audit entry to the caller's transaction (it commits, or vanishes, with the change)."""
    target_type, target_id = target if target else (None, None)
    session.add(
        AuditEntry(
            at=caller.now,
            staff_id=caller.staff_id,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            client_ip=caller.client_ip[:64],
            detail=json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True),
        )
    )


async def entries(
    session: AsyncSession,
    *,
    staff_id: int | None,
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> list[AuditEntry]:
    """Audit entries, newest first."""
    t = audit_table
    query = sa.select(AuditEntry).order_by(t.c.at.desc(), t.c.id.desc()).limit(limit).offset(offset)
    conditions = (
        (t.c.staff_id, staff_id),
        (t.c.action, action),
        (t.c.target_type, target_type),
        (t.c.target_id, target_id),
    )
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(t.c.at >= since)
    if until is not None:
        query = query.where(t.c.at < until)
    return list((await session.scalars(query)).all())
