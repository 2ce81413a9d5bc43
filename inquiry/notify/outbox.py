"""The outbox life cycle: claim due rows under a lease, record results, requeue dead ones."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inquiry.models import OUTBOX_CLAIMABLE, OutboxStatus, inquiry_table, outbox_table

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    inquiry_id: int
    kind: str
    recipient: str
    message_id: str
    urgent: bool
    attempts: int
    created_at: datetime


# In the dataclass's order: claimed rows are built by position.
CLAIMED_COLUMNS = tuple(outbox_table.c[field.name] for field in fields(ClaimedMessage))


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one claimed message."""

    message: ClaimedMessage
    status: OutboxStatus  # SENT, PENDING (retry) or DEAD
    error: str | None = None
    next_attempt_at: datetime | None = None


# The worker's statements are built once, their values bound at each execution. Built for
# each batch, they cost SQLAlchemy more than the database takes to run them: on PostgreSQL, a
# claim of 100 took 4.7 ms of the worker's CPU, 1.5 ms of it building the two statements.
_NOW = sa.bindparam("now", type_=outbox_table.c.next_attempt_at.type)
_LEASE_UNTIL = sa.bindparam("lease_until", type_=outbox_table.c.claimed_until.type)
_IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
# The same list as one array value (PostgreSQL): one statement for any number of ids, where
# an expanding IN is written out again for each execution, one placeholder per id.
_ID_ARRAY = sa.bindparam("ids", type_=postgresql.ARRAY(sa.Integer))


def _id_in(column: sa.Column[int], *, array: bool) -> sa.ColumnElement[bool]:
    return column == sa.any_(_ID_ARRAY) if array else column.in_(_IDS)


# Due rows, and rows whose worker's lease lapsed.
_MAY_CLAIM = sa.and_(
    # Implied by what follows, but spelled out: the claim index's condition, literally.
    sa.text(OUTBOX_CLAIMABLE),
    sa.or_(
        sa.and_(
            outbox_table.c.status == OutboxStatus.PENDING.value,
            outbox_table.c.next_attempt_at <= _NOW,
        ),
        sa.and_(
            outbox_table.c.status == OutboxStatus.SENDING.value,
            outbox_table.c.claimed_until < _NOW,
        ),
    ),
)


# The ids a claim takes: urgent rows first (crisis), then the oldest, read in the order of
# ix_outbox_message_claim. SKIP LOCKED lets several workers on PostgreSQL claim side by side
# without waiting or sharing rows; SQLite serialises writers (BEGIN IMMEDIATE) and ignores it.
_CLAIMABLE = (
    sa.select(outbox_table.c.id)
    .where(_MAY_CLAIM)
    .order_by(outbox_table.c.urgent.desc(), outbox_table.c.next_attempt_at, outbox_table.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    sa.update(outbox_table)
    .where(outbox_table.c.id.in_(_CLAIMABLE.scalar_subquery()))
    .values(status=OutboxStatus.SENDING.value, claimed_until=_LEASE_UNTIL)
    .returning(*CLAIMED_COLUMNS)
)
_URGENT_WAITING = sa.select(outbox_table.c.id).where(_MAY_CLAIM, outbox_table.c.urgent).limit(1)


# The inquiry's columns in the order `select(inquiry_table)` returns them.
_INQUIRY_COLUMNS = tuple(column.name for column in inquiry_table.columns)


def _inquiries(*, array: bool) -> sa.Select[Any]:
    return sa.select(inquiry_table).where(_id_in(inquiry_table.c.id, array=array))


# Rows still held by the claim that set this lease. A row whose lease lapsed may have been
# claimed again, by another worker or by this one: it is that claim's now, and writing to it
# would let the message go out twice.
_HELD = sa.and_(
    outbox_table.c.status == OutboxStatus.SENDING.value,
    outbox_table.c.claimed_until == _LEASE_UNTIL,
)


def _record_sent(*, array: bool) -> sa.Update:
    return (
        sa.update(outbox_table)
        .where(_id_in(outbox_table.c.id, array=array), _HELD)
        .values(
            status=OutboxStatus.SENT.value,
            attempts=outbox_table.c.attempts + 1,
            claimed_until=None,
            last_error=None,
            sent_at=_NOW,
        )
    )


_RECORD_ONE = (
    sa.update(outbox_table)
    .where(outbox_table.c.id == sa.bindparam("message_pk", type_=sa.Integer), _HELD)
    .values(
        status=sa.bindparam("new_status", type_=sa.String),
        attempts=outbox_table.c.attempts + 1,
        claimed_until=None,
        last_error=sa.bindparam("error", type_=sa.String),
        next_attempt_at=sa.func.coalesce(
            sa.bindparam("retry_at", type_=outbox_table.c.next_attempt_at.type),
            outbox_table.c.next_attempt_at,
        ),
        sent_at=None,
    )
)


def _release(*, array: bool) -> sa.Update:
    return (
        sa.update(outbox_table)
        .where(_id_in(outbox_table.c.id, array=array), _HELD)
        .values(status=OutboxStatus.PENDING.value, claimed_until=None)
    )


# An AsyncConnection (SQLite, or anything else SQLAlchemy drives) or asyncpg's connection.
Connection: TypeAlias = AsyncConnection | asyncpg.Connection

_Sql: TypeAlias = sa.Select[Any] | sa.UpdateBase
_ASYNCPG = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]


class _Statement:
    """One of the worker's statements, run through SQLAlchemy or, on PostgreSQL, on asyncpg's
    own connection (see `transaction`): the same statement, compiled once for asyncpg.

    Measured in a drain on PostgreSQL, SQLAlchemy's work around each execution (about 0.2 ms,
    plus its rows) took more of the worker's time than the database's answers: the worker ran
    at 0.82 of the limit, and 0.87 with the same statements on asyncpg.
    """

    def __init__(self, statement: _Sql, on_asyncpg: _Sql | None = None) -> None:
        self.statement = statement
        compiled = (on_asyncpg if on_asyncpg is not None else statement).compile(dialect=_ASYNCPG)
        self._sql = str(compiled)
        self._names = compiled.positiontup or []
        # The statement's own values (status names, NULLs) are parameters that carry a value;
        # the others must be given at each execution (a KeyError names a missing one).
        self._fixed = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }

    def _args(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[name] if name in values else self._fixed[name] for name in self._names]

    async def rows(self, connection: Connection, values: Mapping[str, Any]) -> Sequence[Any]:
        if isinstance(connection, AsyncConnection):
            return (await connection.execute(self.statement, values)).all()
        rows: list[Any] = await connection.fetch(self._sql, *self._args(values))
        return rows

    async def count(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Runs a statement that writes; returns how many rows it wrote."""
        if isinstance(connection, AsyncConnection):
            return (await connection.execute(self.statement, values)).rowcount
        status: str = await connection.execute(self._sql, *self._args(values))
        return int(status.rsplit(" ", 1)[1])  # "UPDATE 50"

    async def many(self, connection: Connection, values: Sequence[Mapping[str, Any]]) -> None:
        if isinstance(connection, AsyncConnection):
            await connection.execute(self.statement, list(values))
        else:
            await connection.executemany(self._sql, [self._args(each) for each in values])


_CLAIM_DUE = _Statement(_CLAIM)
_INQUIRIES = _Statement(_inquiries(array=False), _inquiries(array=True))
_RECORD_SENT = _Statement(_record_sent(array=False), _record_sent(array=True))
_RECORD_FAILED = _Statement(_RECORD_ONE)
_RELEASE = _Statement(_release(array=False), _release(array=True))


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Connection]:
    """One transaction for the worker's statements: on asyncpg's own connection on
    PostgreSQL (taken from the engine's pool, checked on checkout as any other), otherwise
    through SQLAlchemy.

    On asyncpg, what the engine would add is skipped (its isolation level, event hooks, SQL
    echo), and errors are asyncpg's own, not SQLAlchemy's. The asyncpg transaction must stay
    inside the checkout: SQLAlchemy's reset on return cannot see it, and asyncpg ends it
    before the connection goes back.
    """
    if engine.dialect.driver != "asyncpg":
        async with engine.begin() as connection:
            yield connection
        return
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # a checked-out connection has one
        try:
            async with driver.transaction():
                yield driver
        except BaseException:
            # The pool cannot see a transaction it did not start: a connection whose rollback
            # may not have finished is closed rather than handed to the next caller.
            await connection.invalidate()
            raise


def claimable(*, now: datetime, limit: int) -> sa.Select[tuple[int]]:
    """The ids a claim takes, with its values (for reading the claim's plan)."""
    return _CLAIMABLE.params(now=now, limit=limit)


async def urgent_waiting(connection: AsyncConnection, *, now: datetime) -> bool:
    """Whether an urgent row could be claimed now (the first entry of the claim index)."""
    found = await connection.scalar(_URGENT_WAITING, {"now": now})
    return found is not None


async def claim_due(
    connection: Connection, *, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedMessage]:
    """Take up to `limit` claimable rows for this worker, under a lease until `lease_until`."""
    rows = await _CLAIM_DUE.rows(
        connection, {"now": now, "lease_until": lease_until, "limit": limit}
    )
    claimed = [ClaimedMessage(*row) for row in rows]
    # RETURNING keeps no order: urgent first, then by id (about the order they were queued).
    return sorted(claimed, key=lambda message: (not message.urgent, message.id))


async def inquiries_for(
    connection: Connection, messages: Iterable[ClaimedMessage]
) -> dict[int, dict[str, Any]]:
    ids = list({message.inquiry_id for message in messages})
    if not ids:
        return {}
    rows = await _INQUIRIES.rows(connection, {"ids": ids})
    inquiries = [dict(zip(_INQUIRY_COLUMNS, row, strict=True)) for row in rows]
    return {inquiry["id"]: inquiry for inquiry in inquiries}


async def record(
    connection: Connection, results: Sequence[Result], *, now: datetime, lease_until: datetime
) -> None:
    """Write every result of a batch claimed under `lease_until`: the sent ones in one
    statement, the others row by row."""
    sent = [result.message.id for result in results if result.status is OutboxStatus.SENT]
    if sent:
        # Nearly every result of a healthy batch: one UPDATE instead of one per message.
        written = await _RECORD_SENT.count(
            connection, {"ids": sent, "lease_until": lease_until, "now": now}
        )
        if written != len(sent):
            # Sent past its lease (a server slower than the lease allows): another claim holds
            # the row now and will send it again.
            log.warning(
                "%d of %d sent messages were not recorded: their lease had lapsed",
                len(sent) - written,
                len(sent),
            )
    others = [
        {
            "message_pk": result.message.id,
            "new_status": result.status.value,
            "error": result.error[:500] if result.error else None,
            "retry_at": result.next_attempt_at,
            "lease_until": lease_until,
        }
        for result in results
        if result.status is not OutboxStatus.SENT
    ]
    if others:
        await _RECORD_FAILED.many(connection, others)


async def release(
    connection: Connection, messages: Iterable[ClaimedMessage], *, lease_until: datetime
) -> None:
    """Hand back rows claimed under `lease_until` that were not attempted: due again at once."""
    ids = [message.id for message in messages]
    if ids:
        await _RELEASE.count(connection, {"ids": ids, "lease_until": lease_until})


async def list_messages(
    engine: AsyncEngine, *, status: OutboxStatus | None, limit: int = 100
) -> list[dict[str, Any]]:
    table = outbox_table
    query = (
        sa.select(table, inquiry_table.c.reference)
        .join(inquiry_table, inquiry_table.c.id == table.c.inquiry_id)
        .order_by(table.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(table.c.status == status.value)
    async with engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(query)]


async def counts(engine: AsyncEngine) -> dict[str, int]:
    table = outbox_table
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
        )
        found = {str(status): int(number) for status, number in rows}
    return {status.value: found.get(status.value, 0) for status in OutboxStatus}


async def requeue(engine: AsyncEngine, message_pk: int, *, now: datetime) -> bool:
    """Queue a dead message again, with a fresh lifetime (its queue time restarts now)."""
    table = outbox_table
    async with engine.begin() as connection:
        result = await connection.execute(
            sa.update(table)
            .where(table.c.id == message_pk, table.c.status == OutboxStatus.DEAD.value)
            .values(
                status=OutboxStatus.PENDING.value,
                next_attempt_at=now,
                created_at=now,
                claimed_until=None,
            )
        )
        return bool(result.rowcount)
