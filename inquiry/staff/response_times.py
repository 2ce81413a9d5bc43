"""How quickly the team answers, for the dashboard: one aggregate query a figure.

- Service level: of the tasks made since a day, the share first attempted before the time
  they were first due (first_due_at: rescheduling moves due_at, not the promise). A task
  counts once it is decided: attempted, or its first due time passed with no attempt while
  it was still open (missed). A task still open and not yet due, or closed without an
  attempt before it was due (the inquiry closed, nobody to call), is not counted.
- Median time from a task's creation to its first attempt, by priority.
- Crisis inquiries: how many, and the time from each one's arrival to the first attempt on
  its task (or, for a duplicate folded into an earlier inquiry's task, on that task after
  it arrived): median, longest, and how many are not attempted yet.

A task's first attempt is its first_attempt_at (set when the first attempt is recorded):
the service level and the time to first attempt read the task table alone. Medians are the
middle row (or the mean of the middle two) picked by row_number() and count() over a window:
SQLite has no percentile_cont, and one statement serves both databases. Durations are
seconds: julianday on SQLite, the epoch of the interval on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.callbacks.models import attempt_table, task_table
from inquiry.models import inquiry_table
from inquiry.triage.taxonomy import Priority

a, t, i = attempt_table, task_table, inquiry_table


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    counted: int  # tasks attempted, or missed: first due time passed with no attempt
    met: int  # first attempted before the time they were first due

    @property
    def percent(self) -> int | None:
        return round(100 * self.met / self.counted) if self.counted else None


@dataclass(frozen=True, slots=True)
class FirstAttempts:
    tasks: int  # tasks attempted at least once
    median: timedelta | None


@dataclass(frozen=True, slots=True)
class CrisisCalls:
    inquiries: int
    attempted: int
    median: timedelta | None  # arrival to first attempt, of those attempted
    longest: timedelta | None

    @property
    def waiting(self) -> int:
        return self.inquiries - self.attempted


def _seconds(
    dialect: str, start: sa.ColumnElement[datetime], end: sa.ColumnElement[datetime]
) -> sa.ColumnElement[float]:
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", end - start), sa.Float)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def _first_attempt_after(
    inquiry_id: sa.ColumnElement[int | None], arrived: sa.ColumnElement[datetime]
) -> sa.ScalarSelect[datetime]:
    """The first attempt on a task of this inquiry made at or after `arrived` (NULL if none)."""
    return (
        sa.select(sa.func.min(a.c.at))
        .select_from(t.join(a, a.c.task_id == t.c.id))
        .where(t.c.inquiry_id == inquiry_id, a.c.at >= arrived)
        .scalar_subquery()
    )


def _earlier(
    first: sa.ColumnElement[datetime], second: sa.ColumnElement[datetime]
) -> sa.ColumnElement[datetime]:
    """The earlier of two times, either of which may be NULL (SQLite has no least())."""
    return sa.case(
        (first.is_(None), second),
        (second.is_(None), first),
        (first < second, first),
        else_=second,
    )


def _middle(rank: sa.ColumnElement[int], size: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The middle row of `size` ranked rows, or the middle two when `size` is even."""
    return sa.and_(2 * rank >= size, 2 * rank <= size + 2)


def _span(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=round(float(seconds)))


async def service_levels(
    session: AsyncSession, *, since: dict[int, datetime], now: datetime
) -> dict[int, ServiceLevel]:
    """The service level of the tasks made since each of these times (keyed by days)."""
    tasks = (
        sa.select(
            t.c.created_at, t.c.first_due_at, t.c.closed_at, t.c.first_attempt_at.label("first_at")
        )
        .where(t.c.created_at >= min(since.values()))
        .subquery()
    )
    missed = sa.and_(
        tasks.c.first_at.is_(None),
        tasks.c.first_due_at <= now,
        sa.or_(tasks.c.closed_at.is_(None), tasks.c.closed_at > tasks.c.first_due_at),
    )
    met = tasks.c.first_at < tasks.c.first_due_at
    counted = sa.or_(tasks.c.first_at.is_not(None), missed)
    columns = []
    for start in since.values():
        recent = tasks.c.created_at >= start
        columns += [
            sa.func.coalesce(sa.func.sum(sa.case((sa.and_(recent, counted), 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((sa.and_(recent, met), 1), else_=0)), 0),
        ]
    row = (await session.execute(sa.select(*columns))).one()
    return {
        days: ServiceLevel(counted=int(row[2 * n]), met=int(row[2 * n + 1]))
        for n, days in enumerate(since)
    }


async def first_attempts(session: AsyncSession, *, since: datetime) -> dict[str, FirstAttempts]:
    """By priority, the median time from a task's creation to its first attempt, for the
    tasks made since `since` that have been attempted."""
    dialect = (await session.connection()).dialect.name
    timed = (
        sa.select(
            t.c.priority, _seconds(dialect, t.c.created_at, t.c.first_attempt_at).label("wait")
        )
        .where(t.c.created_at >= since, t.c.first_attempt_at.is_not(None))
        .subquery()
    )
    ranked = (
        sa.select(
            timed.c.priority,
            timed.c.wait,
            sa.func.row_number()
            .over(partition_by=timed.c.priority, order_by=timed.c.wait)
            .label("rank"),
            sa.func.count().over(partition_by=timed.c.priority).label("size"),
        )
        .where(timed.c.wait.is_not(None))
        .subquery()
    )
    rows = await session.execute(
        sa.select(
            ranked.c.priority,
            sa.func.count(),
            sa.func.avg(sa.case((_middle(ranked.c.rank, ranked.c.size), ranked.c.wait))),
        ).group_by(ranked.c.priority)
    )
    found = {str(priority): FirstAttempts(int(n), _span(median)) for priority, n, median in rows}
    return {p.value: found.get(p.value, FirstAttempts(0, None)) for p in Priority}


async def crisis_calls(session: AsyncSession, *, since: datetime) -> CrisisCalls:
    """The crisis inquiries received since `since`, and how soon each was first attempted."""
    dialect = (await session.connection()).dialect.name
    # Its own task, and the task of the inquiry it was folded into: two lookups by
    # inquiry_id rather than one by either (an OR no index serves).
    first = _earlier(
        _first_attempt_after(i.c.id, i.c.created_at),
        _first_attempt_after(i.c.duplicate_of, i.c.created_at),
    )
    timed = (
        sa.select(_seconds(dialect, i.c.created_at, first).label("wait"))
        .where(i.c.crisis.is_(True), i.c.created_at >= since)
        .subquery()
    )
    ranked = sa.select(
        timed.c.wait,
        sa.func.row_number().over(order_by=timed.c.wait.nulls_last()).label("rank"),
        sa.func.count(timed.c.wait).over().label("size"),
    ).subquery()
    middle = sa.and_(ranked.c.wait.is_not(None), _middle(ranked.c.rank, ranked.c.size))
    row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(ranked.c.wait),
                sa.func.avg(sa.case((middle, ranked.c.wait))),
                sa.func.max(ranked.c.wait),
            )
        )
    ).one()
    return CrisisCalls(
        inquiries=int(row[0]),
        attempted=int(row[1]),
        median=_span(row[2]),
        longest=_span(row[3]),
    )
