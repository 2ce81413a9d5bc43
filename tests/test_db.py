"""Storage: migrations on both databases, SQLite durability settings, write locking."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inquiry import db
from inquiry.config import Settings
from inquiry.db import MIGRATIONS_DIR, create_engine, migrate, refresh_sqlite_statistics
from inquiry.models import utcnow
from inquiry.notify.worker import OutboxWorker
from inquiry.outbox import claimable
from tests.conftest import valid_inquiry
from tests.migrations import differences, move

# Copies one stored outbox row: the same inquiry and the same Message-ID again.
_DUPLICATE_MESSAGE = """
    INSERT INTO outbox_message
        (inquiry_id, kind, recipient, message_id, status, attempts, next_attempt_at, created_at)
    SELECT inquiry_id, kind, recipient, message_id, status, attempts, next_attempt_at, created_at
    FROM outbox_message WHERE id = (SELECT min(id) FROM outbox_message)
"""


async def _outbox_rows(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(
            "SELECT id, inquiry_id, message_id FROM outbox_message ORDER BY id"
        )
        return [tuple(row) for row in result]


async def _duplicate_is_refused(engine: AsyncEngine) -> bool:
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(_DUPLICATE_MESSAGE)
    except IntegrityError:
        return True
    return False


class TestMigrations:
    async def test_schema_has_the_intake_tables(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            version = (
                await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).scalar()
        assert {"inquiry", "outbox_message", "idempotency_record"} <= names
        assert version == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()

    async def test_migrating_again_is_a_no_op(self, settings: Settings) -> None:
        await migrate(settings)
        await migrate(settings)

    async def test_the_migrations_create_what_the_models_describe(
        self, engine: AsyncEngine
    ) -> None:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []


class TestInquiryIndexes:
    async def test_only_quarantined_and_crisis_rows_are_indexed_by_status(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        """An ordinary inquiry is in no partial index: writing it touches none. Quarantined
        spam is stored closed as spam."""
        async with engine.connect() as connection:
            indexes = await connection.run_sync(
                lambda c: {i["name"]: i for i in sa.inspect(c).get_indexes("inquiry")}
            )
        dialect = engine.dialect.name
        where = {
            name: str(index.get("dialect_options", {}).get(f"{dialect}_where", ""))
            for name, index in indexes.items()
        }
        assert "spam" in where["ix_inquiry_quarantined"]
        assert "crisis" in where["ix_inquiry_crisis_at"]
        assert not {"ix_inquiry_status", "ix_inquiry_topic", "ix_inquiry_email"} & set(indexes)
        partial = {name: clause for name, clause in where.items() if clause}
        assert len(partial) == 6
        assert (await client.post("/api/v1/inquiries", json=valid_inquiry())).status_code == 201
        async with engine.connect() as connection:
            for name, clause in partial.items():
                found = await connection.scalar(
                    sa.text(f"SELECT count(*) FROM inquiry WHERE {clause}")  # noqa: S608
                )
                assert found == 0, name


class TestOutboxMessageIds:
    """0003 keys Message-ID uniqueness by inquiry: as strict, and cheaper to write."""

    @pytest.fixture
    async def stored(self, client: httpx.AsyncClient, engine: AsyncEngine) -> list[Any]:
        for n in range(3):
            body = valid_inquiry(email=f"visitor{n}@example.com")
            assert (await client.post("/api/v1/inquiries", json=body)).status_code == 201
        rows = await _outbox_rows(engine)
        assert len(rows) == 6  # admin notification and acknowledgement for each
        return rows

    async def test_the_same_message_id_twice_is_refused(
        self, stored: list[Any], engine: AsyncEngine
    ) -> None:
        assert await _duplicate_is_refused(engine)
        assert await _outbox_rows(engine) == stored

    async def test_0003_down_and_up_keeps_every_row_and_the_rule(
        self, stored: list[Any], engine: AsyncEngine
    ) -> None:
        async with engine.begin() as connection:
            await connection.run_sync(move, "downgrade", "0002")
        assert await _outbox_rows(engine) == stored
        assert await _duplicate_is_refused(engine)
        async with engine.begin() as connection:
            await connection.run_sync(move, "upgrade", "head")
        assert await _outbox_rows(engine) == stored
        assert await _duplicate_is_refused(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []


class TestUrgentOutbox:
    async def test_0004_marks_what_is_already_queued(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        """Rows queued before 0004 are ordered by the same rule as new ones: every message of
        a crisis inquiry, and every on-call alert."""
        crisis = valid_inquiry(message="I have a plan to kill myself this weekend.")
        for body in (valid_inquiry(email="calm@example.com"), crisis):
            assert (await client.post("/api/v1/inquiries", json=body)).status_code == 201
        async with engine.begin() as connection:
            # An on-call alert on the calm inquiry (as alert_on_clinical would have queued).
            await connection.exec_driver_sql(
                "INSERT INTO outbox_message (inquiry_id, kind, recipient, message_id, status,"
                " attempts, next_attempt_at, created_at) SELECT min(id), 'urgent_alert',"
                " 'oncall@example.ca', '<alert@example.ca>', 'pending', 0, min(created_at),"
                " min(created_at) FROM inquiry"
            )
            await connection.run_sync(move, "downgrade", "0003")
            await connection.run_sync(move, "upgrade", "head")
        async with engine.connect() as connection:
            rows = await connection.exec_driver_sql(
                "SELECT o.kind, i.crisis, o.urgent FROM outbox_message o"
                " JOIN inquiry i ON i.id = o.inquiry_id ORDER BY o.id"
            )
            found: list[list[Any]] = [list(row) for row in rows]
        marks = [(kind, bool(crisis), bool(urgent)) for kind, crisis, urgent in found]
        assert marks == [
            ("admin_notification", False, False),
            ("visitor_acknowledgement", False, False),
            ("admin_notification", True, True),
            ("visitor_acknowledgement", True, True),
            ("urgent_alert", False, True),
        ]

    async def test_a_claim_reads_the_claim_index_in_its_order(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        """No sort of the backlog: the plan walks ix_outbox_message_claim and stops at the
        limit. PostgreSQL is denied its alternatives, so a plan without a Sort must take the
        index's order. SQLite picks the index once it has statistics, which the worker's
        housekeeping gathers (see the next test)."""
        await _queue_five(client)
        await refresh_sqlite_statistics(engine)  # does nothing on PostgreSQL
        plan = await _claim_plan(engine)
        assert "ix_outbox_message_claim" in plan, plan
        assert "Sort" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan

    async def test_the_workers_housekeeping_gives_sqlite_the_statistics_a_claim_needs(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
    ) -> None:
        if engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL's autovacuum keeps its own statistics")
        await _queue_five(client)
        assert "TEMP B-TREE" in await _claim_plan(engine)  # no statistics: a sort of the due rows

        worker = OutboxWorker(engine, settings)
        worker.start()  # housekeeping runs first
        try:
            for _ in range(200):
                if "TEMP B-TREE" not in await _claim_plan(engine):
                    break
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()

        plan = await _claim_plan(engine)
        assert "ix_outbox_message_claim" in plan, plan
        assert "TEMP B-TREE" not in plan, plan

    async def test_every_pooled_connection_plans_with_the_new_statistics(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        """ANALYZE reloads the statistics only on its own connection; connections already in
        the pool kept planning a sort of every due row until they were closed."""
        if engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL's statistics are the server's, shared by every connection")
        await _queue_five(client)
        before = await _plans_on_several_connections(engine)
        assert all("TEMP B-TREE" in plan for plan in before), before  # no statistics yet

        await refresh_sqlite_statistics(engine)

        after = await _plans_on_several_connections(engine)
        assert all("ix_outbox_message_claim" in plan for plan in after), after
        assert not any("TEMP B-TREE" in plan for plan in after), after


async def _plans_on_several_connections(engine: AsyncEngine, count: int = 3) -> list[str]:
    """The claim's plan on `count` pooled connections, held at once so that each is another."""
    async with contextlib.AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(engine.connect()) for _ in range(count)]
        plans = []
        for connection in connections:
            plans.append(await _plan_on(connection))
            await connection.rollback()  # SQLite's transactions take the write lock
        return plans


async def _queue_five(client: httpx.AsyncClient) -> None:
    for n in range(5):
        body = valid_inquiry(email=f"visitor{n}@example.com")
        assert (await client.post("/api/v1/inquiries", json=body)).status_code == 201


async def _claim_plan(engine: AsyncEngine) -> str:
    """The database's plan for a claim of 50, as text."""
    async with engine.connect() as connection:
        return await _plan_on(connection)


async def _plan_on(connection: AsyncConnection) -> str:
    compiled = claimable(now=utcnow(), limit=50).compile(dialect=connection.dialect)
    parameters = tuple(compiled.params[name] for name in compiled.positiontup or ())
    if connection.dialect.name == "postgresql":
        for alternative in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            await connection.exec_driver_sql(f"SET LOCAL {alternative} = off")
        explain = "EXPLAIN"
    else:
        explain = "EXPLAIN QUERY PLAN"
    rows = await connection.exec_driver_sql(f"{explain} {compiled}", parameters)
    return "\n".join(" ".join(map(str, row)) for row in rows)


class TestSqliteDurability:
    async def test_wal_full_sync_busy_timeout_and_foreign_keys(self, tmp_path: Path) -> None:
        settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/d.db")
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                pragmas = {
                    name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                    for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
                }
        finally:
            await engine.dispose()
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,
            "busy_timeout": 5000,
            "foreign_keys": 1,
        }

    async def test_transactions_take_the_write_lock_at_begin(self, tmp_path: Path) -> None:
        """BEGIN IMMEDIATE: a second writer waits at BEGIN instead of deadlocking on upgrade."""
        settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/l.db")
        engine = create_engine(settings)
        order: list[str] = []
        try:
            async with engine.begin() as setup:
                await setup.exec_driver_sql("CREATE TABLE t (n INTEGER)")

            async def writer(name: str, hold: float) -> None:
                async with engine.begin() as connection:
                    order.append(f"{name} began")
                    await connection.exec_driver_sql("SELECT count(*) FROM t")
                    await asyncio.sleep(hold)
                    await connection.exec_driver_sql("INSERT INTO t VALUES (1)")
                order.append(f"{name} committed")

            first = asyncio.create_task(writer("a", 0.2))
            await asyncio.sleep(0.05)
            await writer("b", 0)
            await first
        finally:
            await engine.dispose()
        # With deferred transactions both would read, then one would fail with "database is locked".
        assert order == ["a began", "a committed", "b began", "b committed"]


class TestPostgresPool:
    @pytest.fixture
    def pg_settings(self, settings: Settings) -> Settings:
        if not settings.database_url.startswith("postgresql"):
            pytest.skip("SQLite's connections are files in this process: nothing to ping")
        return settings

    async def test_a_connection_given_back_a_moment_ago_is_taken_without_a_ping(
        self, pg_settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        engine = create_engine(pg_settings)
        pings: list[object] = []
        ping = engine.sync_engine.dialect.do_ping

        def counted(dbapi_connection: Any) -> bool:
            pings.append(dbapi_connection)
            return ping(dbapi_connection)

        monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counted)
        try:
            for _ in range(3):
                async with engine.connect() as connection:
                    await connection.exec_driver_sql("SELECT 1")
            assert pings == []
            monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every one is "idle"
            async with engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
            assert len(pings) == 1
        finally:
            await engine.dispose()

    async def test_an_idle_connection_the_server_closed_is_replaced_before_use(
        self, pg_settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """As after a database restart: the ping fails, and the pool connects again."""
        engine = create_engine(pg_settings)
        try:
            async with engine.connect() as connection:
                pid = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
            admin = await asyncpg.connect(pg_settings.database_url.replace("+asyncpg", ""))
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
            async with engine.connect() as connection:
                now = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
            assert now != pid
        finally:
            await engine.dispose()
