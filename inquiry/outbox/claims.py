"""The worker's side of the outbox: claim due rows under a lease, renew it while they are
sent, read the inquiries they are about, record results, hand back what was not attempted.

A claim marks its rows with a token of its own: results and hand-backs are written only to
rows that still carry it. A lease's end is read from the database's clock, in the claim and
in each renewal, so a worker whose clock runs ahead or behind neither takes rows early nor
holds them late; the worker's clock only decides when a pending row is due.

The statements are built once and run through `asyncpg_path.Statement` (on asyncpg's own
connection on PostgreSQL, through SQLAlchemy otherwise).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from inquiry.models import OUTBOX_CLAIMABLE, OutboxStatus, inquiry_table, outbox_table
from inquiry.outbox.asyncpg_path import Connection, Statement

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
_TOKEN = sa.bindparam("token", type_=outbox_table.c.claim_token.type)
_LEASE_SECONDS = sa.bindparam("lease_seconds", type_=sa.Integer)
_IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
# The same list as one array value (PostgreSQL): one statement for any number of ids, where
# an expanding IN is written out again for each execution, one placeholder per id.
_ID_ARRAY = sa.bindparam("ids", type_=postgresql.ARRAY(sa.Integer))


def _id_in(column: sa.Column[int], *, array: bool) -> sa.ColumnElement[bool]:
    return column == sa.any_(_ID_ARRAY) if array else column.in_(_IDS)


class DatabaseTime(sa.ColumnElement[datetime]):
    """The database's clock, `seconds` ahead if given: PostgreSQL's now(), SQLite's time (in
    the text form SQLAlchemy stores, so the two compare as stored values do)."""

    type = outbox_table.c.claimed_until.type
    inherit_cache = True
    _traverse_internals = [("seconds", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, seconds: sa.ColumnElement[int] | None = None) -> None:
        self.seconds = seconds


@compiles(DatabaseTime, "postgresql")
def _postgresql_time(element: DatabaseTime, compiler: SQLCompiler, **kw: Any) -> str:
    if element.seconds is None:
        return "now()"
    return f"(now() + make_interval(secs => {compiler.process(element.seconds, **kw)}))"


@compiles(DatabaseTime, "sqlite")
def _sqlite_time(element: DatabaseTime, compiler: SQLCompiler, **kw: Any) -> str:
    # %f gives milliseconds; SQLAlchemy stores microseconds: padded, they compare as text.
    if element.seconds is None:
        return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"
    seconds = compiler.process(element.seconds, **kw)
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', ({seconds}) || ' seconds') || '000')"


_DATABASE_NOW = DatabaseTime()
_LEASE_END = DatabaseTime(_LEASE_SECONDS)

# Due rows (by the worker's clock, which set their due times), and rows whose lease lapsed
# (by the database's).
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
            outbox_table.c.claimed_until < _DATABASE_NOW,
        ),
    ),
)


# The ids a claim takes: urgent rows first (crisis, whether due or stranded by a worker that
# died), then the oldest, read in the order of
# ix_outbox_message_claim. SKIP LOCKED lets several workers on PostgreSQL claim side by side
# without waiting or sharing rows; SQLite serialises writers (BEGIN IMMEDIATE) and ignores it.
_CLAIMABLE = (
    sa.select(outbox_table.c.id)
    .where(_MAY_CLAIM)
    .order_by(outbox_table.c.urgent.desc(), outbox_table.c.next_attempt_at, outbox_table.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)
_OWN_TOKENS: sa.BindParameter[list[str]] = sa.bindparam("own_tokens", expanding=True)
_OWN_TOKEN_ARRAY = sa.bindparam("own_tokens", type_=postgresql.ARRAY(sa.String))


def _claim(*, array: bool) -> sa.Update:
    """The claim. It leaves alone the rows of the worker's own claims whose results it has
    yet to write (`own_tokens`): one of them whose lease lapsed while it was sent would be
    sent again, its result then written to no row."""
    token = outbox_table.c.claim_token
    not_own = token != sa.all_(_OWN_TOKEN_ARRAY) if array else token.not_in(_OWN_TOKENS)
    ids = _CLAIMABLE.where(sa.or_(token.is_(None), not_own)).scalar_subquery()
    return (
        sa.update(outbox_table)
        .where(outbox_table.c.id.in_(ids))
        .values(status=OutboxStatus.SENDING.value, claim_token=_TOKEN, claimed_until=_LEASE_END)
        .returning(*CLAIMED_COLUMNS)
    )


_URGENT_WAITING = sa.select(outbox_table.c.id).where(_MAY_CLAIM, outbox_table.c.urgent).limit(1)


# The inquiry's columns in the order `select(inquiry_table)` returns them.
_INQUIRY_COLUMNS = tuple(column.name for column in inquiry_table.columns)


def _inquiries(*, array: bool) -> sa.Select[Any]:
    return sa.select(inquiry_table).where(_id_in(inquiry_table.c.id, array=array))


# Rows still held by the claim that marked them with this token. A row whose lease lapsed may
# have been claimed again, by another worker or by this one: it is that claim's now, and
# writing to it would let the message go out twice.
_HELD = sa.and_(
    outbox_table.c.status == OutboxStatus.SENDING.value,
    outbox_table.c.claim_token == _TOKEN,
)


def _renew(*, array: bool) -> sa.Update:
    return (
        sa.update(outbox_table)
        .where(_id_in(outbox_table.c.id, array=array), _HELD)
        .values(claimed_until=_LEASE_END)
    )


def _record_sent(*, array: bool) -> sa.Update:
    return (
        sa.update(outbox_table)
        .where(_id_in(outbox_table.c.id, array=array), _HELD)
        .values(
            status=OutboxStatus.SENT.value,
            attempts=outbox_table.c.attempts + 1,
            claimed_until=None,
            claim_token=None,
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
        claim_token=None,
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
        .values(status=OutboxStatus.PENDING.value, claimed_until=None, claim_token=None)
    )


_CLAIM_DUE = Statement(_claim(array=False), _claim(array=True))
_INQUIRIES = Statement(_inquiries(array=False), _inquiries(array=True))
_RENEW = Statement(_renew(array=False), _renew(array=True))
_RECORD_SENT = Statement(_record_sent(array=False), _record_sent(array=True))
_RECORD_FAILED = Statement(_RECORD_ONE)
_RELEASE = Statement(_release(array=False), _release(array=True))


def new_token() -> str:
    """A token for one claim: no other claim's rows ever carry it."""
    return secrets.token_hex(16)


def claimable(*, now: datetime, limit: int) -> sa.Select[tuple[int]]:
    """The ids a claim takes, with its values (for reading the claim's plan; the claim also
    filters out its worker's own rows from what the index yields)."""
    return _CLAIMABLE.params(now=now, limit=limit)


async def urgent_waiting(connection: AsyncConnection, *, now: datetime) -> bool:
    """Whether an urgent row could be claimed now (the first entry of the claim index)."""
    found = await connection.scalar(_URGENT_WAITING, {"now": now})
    return found is not None


async def claim_due(
    connection: Connection,
    *,
    now: datetime,
    token: str,
    lease_seconds: int,
    limit: int,
    own_tokens: Collection[str] = (),
) -> list[ClaimedMessage]:
    """Take up to `limit` claimable rows, due by `now`, marked with `token`, leased for
    `lease_seconds` by the database's clock; none still held under `own_tokens`."""
    values = {
        "now": now,
        "token": token,
        "lease_seconds": lease_seconds,
        "limit": limit,
        "own_tokens": list(own_tokens),
    }
    rows = await _CLAIM_DUE.rows(connection, values)
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


async def renew(
    connection: Connection, message_ids: Collection[int], *, token: str, lease_seconds: int
) -> int:
    """Lease these rows, still held under `token`, for `lease_seconds` more from the database's
    now; returns how many were renewed (rows already written are not)."""
    if not message_ids:
        return 0
    return await _RENEW.count(
        connection, {"ids": list(message_ids), "token": token, "lease_seconds": lease_seconds}
    )


async def record(
    connection: Connection, results: Sequence[Result], *, now: datetime, token: str
) -> None:
    """Write every result of a batch claimed under `token`: the sent ones in one statement,
    the others row by row."""
    sent = [result.message.id for result in results if result.status is OutboxStatus.SENT]
    if sent:
        # Nearly every result of a healthy batch: one UPDATE instead of one per message.
        written = await _RECORD_SENT.count(connection, {"ids": sent, "token": token, "now": now})
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
            "token": token,
        }
        for result in results
        if result.status is not OutboxStatus.SENT
    ]
    if others:
        await _RECORD_FAILED.many(connection, others)


async def release(
    connection: Connection, messages: Iterable[ClaimedMessage], *, token: str
) -> None:
    """Hand back rows claimed under `token` that were not attempted: due again at once."""
    ids = [message.id for message in messages]
    if ids:
        await _RELEASE.count(connection, {"ids": ids, "token": token})
