"""The intake writer's multi-row INSERT: it stores what SQLAlchemy's insert would store, and
every column it writes is of a type it knows how to convert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.models import task_table
from inquiry.callbacks.tasks import task_row
from inquiry.config import Settings
from inquiry.db import create_transactor
from inquiry.intake import writer as writer_module
from inquiry.intake.bulk_insert import converts, insert_rows
from inquiry.models import (
    OutboxKind,
    as_utc,
    idempotency_table,
    inquiry_table,
    outbox_table,
    utcnow,
)
from inquiry.outbox import addressed, owed_on_intake
from inquiry.triage.taxonomy import Priority, Topic
from tests.conftest import refused_columns, valid_inquiry
from tests.intake.conftest import URL

CRISIS = "I can't go on, I am thinking of ending my life tonight."


class TestColumnTypes:
    async def test_every_column_of_every_table_the_writer_writes_is_converted(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Values reach the driver unconverted but for datetimes: a column of a type that
        SQLAlchemy would convert (JSON, an Enum, a Uuid) would be stored wrongly, silently."""
        written: set[sa.Table] = set()
        real = insert_rows

        def watched(connection: sa.Connection, table: sa.Table, *args: Any, **kwargs: Any) -> Any:
            written.add(table)
            return real(connection, table, *args, **kwargs)

        monkeypatch.setattr(writer_module, "insert_rows", watched)
        # One that owes everything: mail, alerts, a call (a crisis with a phone), a kept answer.
        response = await client.post(
            URL, json=valid_inquiry(message=CRISIS), headers={"Idempotency-Key": "all-tables-1"}
        )

        assert response.status_code == 201
        assert {table.name for table in written} >= {
            "inquiry",
            "outbox_message",
            "callback_task",
            "idempotency_record",
        }
        assert refused_columns(written, converts) == []

    @pytest.mark.parametrize(
        "type_",
        [sa.JSON(), sa.Enum(OutboxKind), sa.Uuid(), sa.Numeric(), sa.DateTime(), sa.Date()],
        ids=repr,
    )
    def test_types_that_need_converting_are_refused(
        self, type_: sa.types.TypeEngine[object]
    ) -> None:
        assert not converts(type_)


Insert = Callable[[sa.Connection, sa.Table, list[dict[str, Any]]], object]


def _plain(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    connection.execute(sa.insert(table), rows)


def _store(
    connection: sa.Connection, *, insert: Insert, reference: str, settings: Settings, now: datetime
) -> None:
    """An inquiry and everything it owes, every table written by `insert`."""
    insert(
        connection,
        inquiry_table,
        [
            {
                "created_at": now,
                "status": "new",
                "quarantine_reason": None,
                "name": "Marie Tremblay",
                "email": "marie@example.ca",
                "phone": "+14165550199",
                "preferred_contact": "phone",
                "callback_window": "morning",
                "voicemail_ok": True,
                "visitor_topic": None,
                "subject": "Starting treatment",
                "message": "Crème brûlée, 20 % — «guillemets» et 🙂",
                "language": "fr",
                "consent": True,
                "source": "api",
                "source_page": None,
                "topic": "crisis",
                "priority": "urgent",
                "crisis": True,
                "triage_reasons": '["crisis:term"]',
                "reference": reference,
            }
        ],
    )
    inquiry_id = connection.scalar(
        sa.select(inquiry_table.c.id).where(inquiry_table.c.reference == reference)
    )
    assert inquiry_id is not None
    owed = owed_on_intake(
        settings,
        visitor_email="marie@example.ca",
        topic=Topic.CRISIS,
        crisis=True,
        quarantined=False,
        now=now,
    )
    domain = settings.message_domain
    insert(
        connection,
        outbox_table,
        addressed(owed, inquiry_id=inquiry_id, reference=reference, domain=domain),
    )
    task = task_row(
        phone="+14165550199",
        name="Marie Tremblay",
        language="fr",
        callback_window="morning",
        voicemail_ok=False,
        priority=Priority.URGENT,
        now=now,
        settings=settings,
    )
    insert(connection, task_table, [{**task, "inquiry_id": inquiry_id}])
    answer = {
        "key": f"api:{reference}",
        "request_hash": "0" * 64,
        "inquiry_id": inquiry_id,
        "status_code": 201,
        "response_body": '{"status": "stored"}',
        "created_at": now,
        "expires_at": now + timedelta(hours=24),
    }
    insert(connection, idempotency_table, [answer])


# Columns that name the row or its inquiry, different by construction.
_IDENTITY = {"id", "reference", "inquiry_id", "key", "message_id"}


async def _stored(engine: AsyncEngine, table: sa.Table, reference: str) -> list[dict[str, Any]]:
    if table is inquiry_table:
        query = sa.select(inquiry_table)
    else:
        query = sa.select(table).join(inquiry_table, inquiry_table.c.id == table.c.inquiry_id)
    query = query.where(inquiry_table.c.reference == reference)
    async with engine.connect() as connection:
        rows = [dict(row._mapping) for row in await connection.execute(query)]
    return sorted(({k: v for k, v in row.items() if k not in _IDENTITY} for row in rows), key=repr)


class TestSameAsSqlalchemy:
    async def test_what_either_path_stores_reads_back_the_same(
        self, settings: Settings, engine: AsyncEngine
    ) -> None:
        """On the writer's own connection (SQLite's writer thread, or PostgreSQL's asyncpg),
        the same rows stored by this path and by SQLAlchemy's insert read back alike, with
        every instant as it was given (the service gives them in UTC)."""
        now = utcnow()
        transactor = create_transactor(settings, engine)
        try:
            for insert, reference in ((insert_rows, "INQ-FAST01"), (_plain, "INQ-PLAIN1")):
                await transactor(
                    partial(_store, insert=insert, reference=reference, settings=settings, now=now)
                )
        finally:
            await transactor.close()

        for table in (inquiry_table, outbox_table, task_table, idempotency_table):
            fast = await _stored(engine, table, "INQ-FAST01")
            plain = await _stored(engine, table, "INQ-PLAIN1")
            assert fast, table.name
            assert fast == plain, table.name
            for fast_row, plain_row in zip(fast, plain, strict=True):
                assert {k: type(v) for k, v in fast_row.items()} == {
                    k: type(v) for k, v in plain_row.items()
                }, table.name
        [inquiry] = await _stored(engine, inquiry_table, "INQ-FAST01")
        assert as_utc(inquiry["created_at"]) == now
