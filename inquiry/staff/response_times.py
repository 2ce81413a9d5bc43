"""How quickly the team answers, for the dashboard: one aggregate query a figure.

- Service level: of the tasks made since a day, the share first attempted before the time
  they were first due (first_due_at: rescheduling moves due_at, not the promise). A task
  counts once it is decided: attempted, or its first due time passed with no attempt while
  it was still open (missed). A task still open and not yet due, or closed without an
  attempt before it was due (the inquiry closed, nobody to call), is not counted.
- Median time from a task's creation to its first attempt, by priority (to the minute).
- Crisis inquiries: how many, and the time from each one's arrival to the first attempt on
  its task (or, for a duplicate folded into an earlier inquiry's task, on that task after
  it arrived): median, longest, and how many are not attempted yet.

A task's first attempt is its first_attempt_at (set when the first attempt is recorded):
the service level and the time to first attempt read the task table alone. The crisis median
is the middle row (or the mean of the middle two) picked by row_number() and count() over a
window: SQLite has no percentile_cont, and one statement serves both databases. Durations
are seconds: julianday on SQLite, the epoch of the interval on PostgreSQL.
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
# Word for word the partial index ix_inquiry_crisis_at's condition, which SQLite needs to
# choose it (SQLAlchemy writes a boolean test as "crisis = 1" or "crisis IS 1" there).
_CRISIS = sa.text("inquiry.crisis")
# Durations worked out once a row: inlined, SQLite works each one out again wherever the
# ranking and the median read it (0.2-0.5 s instead of tens of ms over 40,000 tasks).
_MATERIALIZED = "MATERIALIZED"


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
    """By priority, the median time from a task's creation to its first attempt (to the
    minute), for the tasks made since `since` that have been attempted.

    The database counts the tasks of each priority by whole minutes waited; the middle of
    those few hundred counts is found here. Ranking every task by its wait in a window took
    SQLite 190 ms and PostgreSQL 130 ms at 40,000 tasks, against 50 and 30 for the counts.
    """
    dialect = (await session.connection()).dialect.name
    # Whole seconds first (julianday's arithmetic makes 300 s 299.99999), then whole
    # minutes, truncated: waits are never negative.
    if dialect == "postgresql":
        # date_part works in float8 throughout: extract's numeric arithmetic, on each of
        # 45,000 tasks, cost PostgreSQL a third more (90 ms against 60).
        wait = t.c.first_attempt_at - t.c.created_at
        seconds = sa.func.round(sa.func.date_part("epoch", wait, type_=sa.Float), type_=sa.Float)
        minutes = sa.cast(sa.func.floor(seconds / sa.literal(60.0, sa.Float)), sa.Integer)
    else:
        waited = sa.func.round(_seconds(dialect, t.c.created_at, t.c.first_attempt_at)) / 60
        minutes = sa.cast(waited, sa.Integer)
    rows = await session.execute(
        sa.select(t.c.priority, minutes.label("minutes"), sa.func.count())
        .where(t.c.created_at >= since, t.c.first_attempt_at.is_not(None))
        .group_by(t.c.priority, minutes)
    )
    counts: dict[str, dict[int, int]] = {p.value: {} for p in Priority}
    for priority, waited_minutes, count in rows:
        counts.setdefault(str(priority), {})[int(waited_minutes)] = int(count)
    return {p.value: _median_of_counts(counts[p.value]) for p in Priority}


def _median_of_counts(counts: dict[int, int]) -> FirstAttempts:
    """The median of values given as {value: how many}: the middle one, or the mean of the
    middle two."""
    size = sum(counts.values())
    if not size:
        return FirstAttempts(0, None)
    wanted = sorted({(size + 1) // 2, size // 2 + 1})  # 1-based positions in order
    found: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while wanted and wanted[0] <= seen:
            found.append(value)
            wanted.pop(0)
    middle = found[0] if len(found) == 1 or size % 2 else (found[0] + found[1]) / 2
    return FirstAttempts(size, timedelta(minutes=middle))


async def crisis_calls(session: AsyncSession, *, since: datetime) -> CrisisCalls:
    """The crisis inquiries received since `since`, and how soon each was first attempted."""
    dialect = (await session.connection()).dialect.name
    received = sa.and_(_CRISIS, i.c.created_at >= since)
    # What answers each one: the first attempt on its own tasks, or, for a message folded
    # into the task of the same person's earlier inquiry, the first attempt on that task
    # after it arrived (read only for those few). Looked up for each crisis inquiry by
    # inquiry_id: joined, both databases without statistics read every task or attempt.
    own = (
        sa.select(sa.func.min(t.c.first_attempt_at))
        .where(t.c.inquiry_id == i.c.id)
        .scalar_subquery()
    )
    folded = (
        sa.select(sa.func.min(a.c.at))
        .select_from(t.join(a, a.c.task_id == t.c.id))
        .where(t.c.inquiry_id == i.c.duplicate_of, a.c.at >= i.c.created_at)
        .scalar_subquery()
    )
    answered = (
        sa.select(
            i.c.created_at,
            own.label("own_at"),
            sa.case((i.c.duplicate_of.is_not(None), folded)).label("folded_at"),
        )
        .where(received)
        .cte("answered")
        .prefix_with(_MATERIALIZED)
    )
    first = _earlier(answered.c.own_at, answered.c.folded_at)
    timed = (
        sa.select(_seconds(dialect, answered.c.created_at, first).label("wait"))
        .cte("timed")
        .prefix_with(_MATERIALIZED)
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
