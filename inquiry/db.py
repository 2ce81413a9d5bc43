"""Engine construction, SQLite durability pragmas, and the migrations entry point."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from inquiry.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that "begin" below is what runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the writer; FULL fsyncs each commit so an
        # acknowledged inquiry survives a power cut.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two transactions can never both hold
        # a read lock and deadlock while upgrading it to write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the one engine of the process."""
    if settings.is_sqlite:
        _prepare_sqlite_file(settings.database_url)
        engine = create_async_engine(settings.database_url, pool_size=5, max_overflow=0)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_pre_ping=True,
    )


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Any, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), revision)


async def migrate(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default)."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, revision)
    finally:
        await engine.dispose()


def migrate_blocking(settings: Settings, revision: str = "head") -> None:
    asyncio.run(migrate(settings, revision))


async def ping(connection: AsyncConnection) -> None:
    await connection.exec_driver_sql("SELECT 1")
