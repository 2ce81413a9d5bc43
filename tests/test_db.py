"""Storage: migrations on both databases, SQLite durability settings, write locking."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import Settings
from inquiry.db import MIGRATIONS_DIR, create_engine, migrate


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
