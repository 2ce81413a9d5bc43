"""Gauges read from the database when Prometheus scrapes: the outbox backlog, the callback
queue, the newest inquiry (and the business days since it, on the clinic's calendar), and
whether the database answered at all.

Read at scrape time rather than kept up to date: every process would otherwise have to see
every other process's writes. Three cheap queries, each served by an index or a partial index:
the outbox's backlog (asked of inquiry.outbox, the owner of its rows), the active callback
tasks, the newest inquiry.

The metrics server answers in a thread of its own, while the engine belongs to the event
loop: the queries are handed to that loop and waited for, at most QUERY_SECONDS. A query that
fails or is late costs the scrape its database gauges (and sets inquiry_ready to 0), never the
scrape itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry import outbox
from inquiry.callbacks.queue import OPEN_BY_PRIORITY
from inquiry.callbacks.schedule import BusinessCalendar
from inquiry.models import as_utc, inquiry_table, utcnow
from inquiry.triage.taxonomy import Priority

log = logging.getLogger(__name__)

QUERY_SECONDS = 2.0
_NEWEST_INQUIRY = sa.select(sa.func.max(inquiry_table.c.created_at))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the database says at one moment; ages in seconds."""

    outbox: dict[str, int]
    oldest_undelivered_seconds: float
    tasks_open: dict[str, int]
    tasks_overdue: dict[str, int]
    oldest_overdue_seconds: dict[str, float]
    newest_inquiry_at: float | None
    business_days_since_newest: float | None


async def read_snapshot(
    engine: AsyncEngine, now: datetime, calendar: BusinessCalendar | None = None
) -> Snapshot:
    """Run the three queries on one connection."""
    async with engine.connect() as connection:
        backlog = await outbox.backlog(connection)
        priorities = [p.value for p in Priority]
        tasks_open = dict.fromkeys(priorities, 0)
        overdue = dict.fromkeys(priorities, 0)
        overdue_for = dict.fromkeys(priorities, 0.0)
        rows = await connection.execute(OPEN_BY_PRIORITY, {"now": now})
        for priority, count, late, earliest_due in rows:
            tasks_open[priority] = int(count)
            overdue[priority] = int(late or 0)
            if earliest_due is not None:
                overdue_for[priority] = max(0.0, (now - as_utc(earliest_due)).total_seconds())
        newest = await connection.scalar(_NEWEST_INQUIRY)
    oldest = backlog.oldest_undelivered
    newest_at = None if newest is None else as_utc(newest)
    quiet_days = None
    if newest_at is not None and calendar is not None:
        quiet_days = calendar.business_days_between(newest_at, now)
    return Snapshot(
        outbox=backlog.counts,
        oldest_undelivered_seconds=0.0 if oldest is None else (now - oldest).total_seconds(),
        tasks_open=tasks_open,
        tasks_overdue=overdue,
        oldest_overdue_seconds=overdue_for,
        newest_inquiry_at=None if newest_at is None else newest_at.timestamp(),
        business_days_since_newest=quiet_days,
    )


def _families(snapshot: Snapshot | None, ready: bool) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "inquiry_ready",
        "1 when the database answered this scrape's queries (as /readyz requires), else 0.",
        value=1 if ready else 0,
    )
    outbox = GaugeMetricFamily(
        "inquiry_outbox_messages",
        "Outbox messages by status: pending, sending (claimed by a worker) and dead.",
        labels=["status"],
    )
    oldest = GaugeMetricFamily(
        "inquiry_outbox_oldest_pending_age_seconds",
        "Age of the oldest message not yet delivered (pending or sending); 0 when none.",
    )
    tasks = GaugeMetricFamily(
        "inquiry_callback_tasks_open",
        "Callback tasks still owed (open or claimed), by priority.",
        labels=["priority"],
    )
    overdue = GaugeMetricFamily(
        "inquiry_callback_tasks_overdue",
        "Callback tasks still owed and past their due time, by priority.",
        labels=["priority"],
    )
    overdue_for = GaugeMetricFamily(
        "inquiry_callback_oldest_overdue_seconds",
        "How long the most overdue task of each priority is past its due time; 0 when none.",
        labels=["priority"],
    )
    newest = GaugeMetricFamily(
        "inquiry_last_inquiry_timestamp_seconds",
        "When the newest inquiry was received (Unix time); absent while there is none.",
    )
    quiet = GaugeMetricFamily(
        "inquiry_business_days_since_last_inquiry",
        "Business days (the clinic's open hours, holidays skipped) since the newest inquiry; "
        "absent while there is none.",
    )
    if snapshot is not None:
        for status, count in snapshot.outbox.items():
            outbox.add_metric([status], count)
        oldest.add_metric([], snapshot.oldest_undelivered_seconds)
        for priority in (p.value for p in Priority):
            tasks.add_metric([priority], snapshot.tasks_open[priority])
            overdue.add_metric([priority], snapshot.tasks_overdue[priority])
            overdue_for.add_metric([priority], snapshot.oldest_overdue_seconds[priority])
        if snapshot.newest_inquiry_at is not None:
            newest.add_metric([], snapshot.newest_inquiry_at)
        if snapshot.business_days_since_newest is not None:
            quiet.add_metric([], snapshot.business_days_since_newest)
    yield from (outbox, oldest, tasks, overdue, overdue_for, newest, quiet)


def described() -> Iterator[Metric]:
    """The gauges' families, without reading anything."""
    return _families(None, ready=False)


class DatabaseGauges:
    """A Prometheus collector whose values are read from the database at each scrape."""

    def __init__(
        self,
        engine: AsyncEngine,
        loop: asyncio.AbstractEventLoop,
        *,
        clock: Callable[[], datetime] = utcnow,
        timeout: float = QUERY_SECONDS,
        calendar: BusinessCalendar | None = None,
    ) -> None:
        self._engine = engine
        self._calendar = calendar
        self._loop = loop
        self._loop_thread = threading.get_ident()  # built on the loop it reads through
        self._clock = clock
        self._timeout = timeout
        self._failing = False

    def describe(self) -> Iterator[Metric]:
        """Asked by the registry when it registers us (collect() would run the queries)."""
        return described()

    def collect(self) -> Iterator[Metric]:
        return _families(*self._read())

    def _read(self) -> tuple[Snapshot | None, bool]:
        if threading.get_ident() == self._loop_thread:
            # Waiting here would block the very loop the queries need.
            log.warning("database gauges are read from the metrics server's thread only")
            return None, False
        try:
            future = asyncio.run_coroutine_threadsafe(self._timed(), self._loop)
        except RuntimeError:  # the loop has closed: the process is stopping
            return None, False
        try:
            snapshot = future.result(self._timeout + 0.5)
        except Exception as error:  # noqa: BLE001 - a scrape must not fail with the database
            future.cancel()
            if not self._failing:
                log.warning("database gauges unavailable: %s", type(error).__name__)
            self._failing = True
            return None, False
        if self._failing:
            log.info("database gauges available again")
        self._failing = False
        return snapshot, True

    async def _timed(self) -> Snapshot:
        async with asyncio.timeout(self._timeout):
            return await read_snapshot(self._engine, self._clock(), self._calendar)
