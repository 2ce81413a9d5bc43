"""The worker's statements: on PostgreSQL they run on asyncpg's own connection, and must do
exactly what they do through SQLAlchemy, for every type they read and write."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.util import find_tables

from inquiry import outbox
from inquiry.models import OutboxKind, OutboxStatus, as_utc, outbox_table, utcnow
from inquiry.outbox import Result, claims
from inquiry.outbox.asyncpg_path import Statement, passes_as_is
from tests.conftest import make_settings, refused_columns, valid_inquiry
from tests.notify.conftest import submit


async def outbox_rows(engine: AsyncEngine) -> dict[int, tuple[object, ...]]:
    columns = (
        outbox_table.c.status,
        outbox_table.c.attempts,
        outbox_table.c.claimed_until,
        outbox_table.c.last_error,
        outbox_table.c.next_attempt_at,
        outbox_table.c.sent_at,
    )
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(outbox_table.c.id, *columns))
        return {row[0]: tuple(row[1:]) for row in rows}


async def test_the_statements_do_the_same_on_either_connection(
    database_url: str, tmp_path: Path, engine: AsyncEngine
) -> None:
    """Two identical inquiries, one worked through SQLAlchemy and one through
    `outbox.transaction` (asyncpg on PostgreSQL): the same rows read, the same rows written.
    A value bound in the wrong place would show as a difference."""
    settings = make_settings(database_url, tmp_path)
    await submit(settings, valid_inquiry(), valid_inquiry())
    now = utcnow()

    retry_at = now + timedelta(minutes=5)
    async with engine.begin() as connection:
        by_sqlalchemy = await outbox.claim_due(
            connection, now=now, token="a", lease_seconds=60, limit=2
        )
        inquiries_by_sqlalchemy = await outbox.inquiries_for(connection, by_sqlalchemy)
    async with outbox.transaction(engine) as connection:
        by_transaction = await outbox.claim_due(
            connection, now=now, token="b", lease_seconds=60, limit=2
        )
        inquiries_by_transaction = await outbox.inquiries_for(connection, by_transaction)

    assert len(by_sqlalchemy) == len(by_transaction) == 2
    assert {m.id for m in by_sqlalchemy}.isdisjoint(m.id for m in by_transaction)
    for first, second in zip(by_sqlalchemy, by_transaction, strict=True):
        assert (first.kind, first.recipient, first.urgent, first.attempts) == (
            second.kind,
            second.recipient,
            second.urgent,
            second.attempts,
        )
    [read_by_sqlalchemy] = inquiries_by_sqlalchemy.values()
    [read_by_transaction] = inquiries_by_transaction.values()
    # The second of two identical inquiries is linked to the first as its duplicate.
    differing = {"id", "reference", "created_at", "duplicate_of"}
    assert read_by_sqlalchemy.keys() == read_by_transaction.keys()
    for name in read_by_sqlalchemy.keys() - differing:
        assert read_by_sqlalchemy[name] == read_by_transaction[name], name
        assert type(read_by_sqlalchemy[name]) is type(read_by_transaction[name]), name

    async def work(
        connection: outbox.Connection, messages: list[outbox.ClaimedMessage], token: str
    ) -> None:
        sent, failed = messages
        assert (
            await outbox.renew(connection, [sent.id, failed.id], token=token, lease_seconds=60) == 2
        )
        results = [
            Result(sent, OutboxStatus.SENT),
            Result(failed, OutboxStatus.PENDING, "SMTP 451: try later", retry_at),
        ]
        await outbox.record(connection, results, now=now, token=token)

    async with engine.begin() as connection:
        await work(connection, by_sqlalchemy, "a")
    async with outbox.transaction(engine) as connection:
        await work(connection, by_transaction, "b")

    rows = await outbox_rows(engine)
    without_due_time = [0, 1, 2, 3, 5]  # rows queued a moment apart are due a moment apart
    for first, second in zip(by_sqlalchemy, by_transaction, strict=True):
        assert [rows[first.id][i] for i in without_due_time] == [
            rows[second.id][i] for i in without_due_time
        ]
    assert as_utc(rows[by_sqlalchemy[1].id][4]) == retry_at  # type: ignore[arg-type]
    sent, failed = (rows[m.id] for m in by_transaction)
    assert sent[:4] == (OutboxStatus.SENT.value, 1, None, None)
    assert failed[:4] == (OutboxStatus.PENDING.value, 1, None, "SMTP 451: try later")
    assert as_utc(failed[4]) == retry_at  # type: ignore[arg-type]

    # The rest handed back, due at once, by either path.
    async with engine.begin() as connection:
        rest = await outbox.claim_due(connection, now=now, token="c", lease_seconds=60, limit=10)
    async with outbox.transaction(engine) as connection:
        await outbox.release(connection, rest, token="c")
    assert {row[0] for row in (await outbox_rows(engine)).values()} == {"sent", "pending"}


async def test_a_failed_transaction_changes_nothing(
    database_url: str, tmp_path: Path, engine: AsyncEngine
) -> None:
    settings = make_settings(database_url, tmp_path)
    await submit(settings, valid_inquiry())
    before = await outbox_rows(engine)
    now = utcnow()
    claimed: list[outbox.ClaimedMessage] = []

    async def claim_then_fail() -> None:
        async with outbox.transaction(engine) as connection:
            claimed.extend(
                await outbox.claim_due(connection, now=now, token="a", lease_seconds=60, limit=10)
            )
            raise RuntimeError("fails in the middle")

    with pytest.raises(RuntimeError, match="in the middle"):
        await claim_then_fail()
    assert len(claimed) == len(before) > 0
    assert await outbox_rows(engine) == before
    # The pool still gives working connections afterwards.
    async with outbox.transaction(engine) as connection:
        claimed_again = await outbox.claim_due(
            connection, now=now, token="b", lease_seconds=60, limit=10
        )
        assert len(claimed_again) == len(before)


async def test_a_value_left_out_is_an_error_not_a_null(
    database_url: str, tmp_path: Path, engine: AsyncEngine
) -> None:
    """A missing value must not bind as NULL: `claim_token = NULL` matches no row, and the
    write would silently do nothing."""
    with pytest.raises((KeyError, sa.exc.StatementError)):
        async with outbox.transaction(engine) as connection:
            await claims._RELEASE.count(connection, {"ids": [1]})  # no token


STATEMENTS = {name: value for name, value in vars(claims).items() if isinstance(value, Statement)}


class TestTypes:
    """Values pass this path unconverted: a column or parameter of a type SQLAlchemy would
    convert (JSON, an Enum, a Uuid) would be written or read wrongly, without an error."""

    def test_every_statement_of_the_worker_is_found(self) -> None:
        assert len(STATEMENTS) >= 5

    @pytest.mark.parametrize("name", sorted(STATEMENTS))
    def test_every_column_the_statement_reads_or_writes_passes_as_is(self, name: str) -> None:
        tables = set(find_tables(STATEMENTS[name].statement, include_crud=True))
        assert tables
        assert refused_columns(tables, passes_as_is) == []

    @pytest.mark.parametrize("name", sorted(STATEMENTS))
    def test_every_parameter_passes_as_is(self, name: str) -> None:
        binds = STATEMENTS[name].compiled.binds
        assert [
            f"{key}: {bind.type!r}" for key, bind in binds.items() if not passes_as_is(bind.type)
        ] == []

    @pytest.mark.parametrize(
        "type_",
        [
            sa.JSON(),
            postgresql.JSONB(),
            sa.Enum(OutboxKind),
            sa.Uuid(),
            sa.Numeric(),
            postgresql.ARRAY(sa.JSON()),
        ],
        ids=repr,
    )
    def test_types_that_need_converting_are_refused(
        self, type_: sa.types.TypeEngine[object]
    ) -> None:
        assert not passes_as_is(type_)
