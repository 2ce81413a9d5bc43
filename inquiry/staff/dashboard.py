"""The dashboard's figures, each one aggregate query (nothing about any one person).

Days are the clinic's: PostgreSQL converts each time to INQUIRY_CLINIC_TIMEZONE; SQLite, which
has no time zones, shifts by the zone's offset now (a day next to a daylight-saving change
may count an hour of it on the neighbouring day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry import outbox
from inquiry.callbacks.models import ACTIVE_STATUSES, task_table
from inquiry.models import inquiry_table
from inquiry.outbox import Backlog
from inquiry.triage.taxonomy import Priority

DAYS = 30


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: list[date]
    per_day: dict[date, dict[str, int]]  # inquiries received, by topic
    open_by_priority: dict[str, int]
    overdue: int
    crisis: int  # crisis inquiries received in the last DAYS days
    mail: Backlog

    @property
    def busiest_day(self) -> int:
        return max((sum(topics.values()) for topics in self.per_day.values()), default=0)

    @property
    def topics(self) -> list[str]:
        return sorted({topic for topics in self.per_day.values() for topic in topics})


def _clinic_day(
    dialect: str, column: sa.ColumnElement[datetime], zone: ZoneInfo, now: datetime
) -> sa.ColumnElement[str]:
    if dialect == "postgresql":
        return sa.cast(sa.func.date(sa.func.timezone(zone.key, column)), sa.String)
    offset = now.astimezone(zone).utcoffset() or timedelta(0)
    return sa.func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


async def dashboard(session: AsyncSession, *, zone: ZoneInfo, now: datetime) -> Dashboard:
    """Inquiries a day by topic (the last DAYS days), open calls by priority, overdue calls,
    crisis inquiries, and the mail backlog."""
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=back) for back in range(DAYS - 1, -1, -1)]
    since = datetime.combine(days[0], datetime.min.time(), zone).astimezone(UTC)
    connection = await session.connection()
    t = inquiry_table
    day = _clinic_day(connection.dialect.name, t.c.created_at, zone, now).label("day")
    rows = await session.execute(
        sa.select(day, t.c.topic, sa.func.count())
        .where(t.c.created_at >= since)
        .group_by(day, t.c.topic)
    )
    per_day: dict[date, dict[str, int]] = {d: {} for d in days}
    for found_day, topic, count in rows:
        key = date.fromisoformat(str(found_day)[:10])
        if key in per_day:
            per_day[key][str(topic)] = int(count)
    active = task_table.c.status.in_([status.value for status in ACTIVE_STATUSES])
    by_priority = {
        str(priority): int(count)
        for priority, count in await session.execute(
            sa.select(task_table.c.priority, sa.func.count())
            .where(active)
            .group_by(task_table.c.priority)
        )
    }
    overdue = await session.scalar(
        sa.select(sa.func.count()).select_from(task_table).where(active, task_table.c.due_at < now)
    )
    crisis = await session.scalar(
        sa.select(sa.func.count())
        .select_from(t)
        .where(t.c.crisis.is_(True), t.c.created_at >= since)
    )
    return Dashboard(
        days=days,
        per_day=per_day,
        open_by_priority={p.value: by_priority.get(p.value, 0) for p in Priority},
        overdue=int(overdue or 0),
        crisis=int(crisis or 0),
        mail=await outbox.backlog(connection),
    )
