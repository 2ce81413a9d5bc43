"""The dashboard's figures, each one aggregate query (nothing about any one person).

How quickly the team answers (service level, time to first attempt, crisis inquiries) is
inquiry.staff.response_times; the windows are counted here in clinic days.

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
from inquiry.callbacks.queue import OPEN_BY_PRIORITY
from inquiry.models import inquiry_table
from inquiry.outbox import Backlog
from inquiry.staff.response_times import (
    CrisisCalls,
    FirstAttempts,
    ServiceLevel,
    crisis_calls,
    first_attempts,
    service_levels,
)
from inquiry.triage.taxonomy import Priority

DAYS = 30
SERVICE_LEVEL_DAYS = (7, 30)


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: list[date]
    per_day: dict[date, dict[str, int]]  # inquiries received, by topic
    open_by_priority: dict[str, int]
    overdue: int
    mail: Backlog
    service_level: dict[int, ServiceLevel]  # by window, SERVICE_LEVEL_DAYS
    first_attempt: dict[str, FirstAttempts]  # by priority, tasks of the last DAYS days
    crisis_calls: CrisisCalls  # crisis inquiries received in the last DAYS days

    @property
    def crisis(self) -> int:
        return self.crisis_calls.inquiries

    @property
    def busiest_day(self) -> int:
        return max((sum(topics.values()) for topics in self.per_day.values()), default=0)

    @property
    def slowest_first_attempt(self) -> float:
        """The longest median wait for a first attempt, in seconds (the chart's scale)."""
        waits = [f.median.total_seconds() for f in self.first_attempt.values() if f.median]
        return max(waits, default=0.0)

    @property
    def topics(self) -> list[str]:
        return sorted({topic for topics in self.per_day.values() for topic in topics})


async def dashboard(session: AsyncSession, *, zone: ZoneInfo, now: datetime) -> Dashboard:
    """Inquiries a day by topic (the last DAYS days), open calls by priority, overdue calls,
    service levels, time to first attempt, crisis inquiries, and the mail backlog."""
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=back) for back in range(DAYS - 1, -1, -1)]
    since = _start_of(days[0], zone)
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        # Without fresh statistics the planner's estimates for these aggregates pass
        # jit_above_cost, and compiling them took 0.6 s against the 30 ms they run for.
        await session.execute(sa.text("SET LOCAL jit = off"))
    per_day = await _per_day(session, connection.dialect.name, days, zone=zone, now=now)
    by_priority: dict[str, int] = dict.fromkeys((p.value for p in Priority), 0)
    overdue = 0
    for priority, count, late, _ in await session.execute(OPEN_BY_PRIORITY, {"now": now}):
        by_priority[str(priority)] = int(count)
        overdue += int(late or 0)
    return Dashboard(
        days=days,
        per_day=per_day,
        open_by_priority=by_priority,
        overdue=overdue,
        mail=await outbox.backlog(connection),
        service_level=await service_levels(
            session,
            since={n: _start_of(today - timedelta(days=n - 1), zone) for n in SERVICE_LEVEL_DAYS},
            now=now,
        ),
        first_attempt=await first_attempts(session, since=since),
        crisis_calls=await crisis_calls(session, since=since),
    )


async def _per_day(
    session: AsyncSession, dialect: str, days: list[date], *, zone: ZoneInfo, now: datetime
) -> dict[date, dict[str, int]]:
    """The inquiries received on each of these clinic days, by topic."""
    t = inquiry_table
    per_day: dict[date, dict[str, int]] = {d: {} for d in days}
    if dialect == "postgresql":
        # Grouped on the date itself: made text first, each of 50,000 arrivals cost 10 ms more.
        day = sa.func.date(sa.func.timezone(zone.key, t.c.created_at)).label("day")
        rows = await session.execute(
            sa.select(day, t.c.topic, sa.func.count())
            .where(t.c.created_at >= _start_of(days[0], zone))
            .group_by(day, t.c.topic)
        )
        for found_day, topic, count in rows:
            key = date.fromisoformat(str(found_day)[:10])
            if key in per_day:
                per_day[key][str(topic)] = int(count)
        return per_day
    # SQLite: each day's arrivals counted over its own range of the index on arrival (the
    # day's bounds in UTC at the zone's offset now, see the module's notes), not a clinic
    # day worked out for each of 50,000 arrivals and sorted: 25 ms against 50.
    offset = now.astimezone(zone).utcoffset() or timedelta(0)
    bounds = [
        datetime.combine(d, datetime.min.time(), UTC) - offset
        for d in [*days, days[-1] + timedelta(days=1)]
    ]
    bounds[0] = max(bounds[0], _start_of(days[0], zone))  # the page's window starts there
    counts = [
        sa.select(sa.literal(n).label("day"), t.c.topic, sa.func.count())
        .where(t.c.created_at >= bounds[n], t.c.created_at < bounds[n + 1])
        .group_by(t.c.topic)
        for n in range(len(days))
    ]
    for n, topic, count in await session.execute(sa.union_all(*counts)):
        per_day[days[int(n)]][str(topic)] = int(count)
    return per_day


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    """Midnight of this clinic day, in UTC."""
    return datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
