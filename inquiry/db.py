"""Engine construction, SQLite durability pragmas, and the migrations entry point."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from inquiry.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
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

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two transactions can never both hold
        # a read lock and deadlock while upgrading it to write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def refresh_sqlite_statistics(engine: AsyncEngine) -> None:
    """Give SQLite's planner table statistics, which SQLite never gathers by itself.

    Without them it plans the outbox claim as a sort of every due row (about 150 ms a claim
    with 100,000 due) instead of reading ix_outbox_message_claim in order (0.2 ms). Under an
    analysis limit, ANALYZE samples at most 1,000 rows of each index: milliseconds.
    PostgreSQL's autovacuum keeps its own statistics.

    A connection reads the statistics when it opens, and ANALYZE reloads them only on the
    connection that ran it: every other connection of the pool would go on planning without
    them. So the pool is renewed (its idle connections closed, those in use closed when
    given back); a SQLite connection opens in about 3 ms, once every 10 minutes.
    """
    if engine.dialect.name != "sqlite":
        return
    async with engine.begin() as connection:
        await connection.exec_driver_sql("PRAGMA analysis_limit=1000")
        await connection.exec_driver_sql("ANALYZE")
    await engine.dispose()


# A pooled connection given back less than this long ago is taken without a ping.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle for a while.

    asyncpg's ping (what pool_pre_ping runs) is three round trips: BEGIN, a query, ROLLBACK.
    On every checkout it was a quarter of the intake writer's round trips per batch. A
    connection given back within PING_AFTER_IDLE_SECONDS was working a moment ago (the pool
    of HikariCP skips its check the same way); one idle for longer, as after a quiet night or
    a database restart, is pinged and replaced if the ping fails, as pool_pre_ping did.
    """

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool replaces the connection and tries again.
            raise DisconnectionError("connection failed its ping") from error


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the one engine of the process."""
    if settings.is_sqlite:
        _prepare_sqlite_file(settings.database_url)
        engine = create_async_engine(
            settings.database_url, pool_size=5, max_overflow=0, hide_parameters=True
        )
        _configure_sqlite(engine.sync_engine)
        return engine
    engine = create_async_engine(
        settings.database_url,
        # Errors must not carry bound values into logs: they are visitors' health information.
        hide_parameters=True,
        pool_size=settings.database_pool_size,
        max_overflow=0,
    )
    _ping_when_idle(engine.sync_engine)
    return engine


T = TypeVar("T")


class Transactor(Protocol):
    """Runs a synchronous unit of work in one transaction and returns its result."""

    async def __call__(self, work: Callable[[Connection], T]) -> T: ...

    async def close(self) -> None: ...


class AsyncTransactor:
    """PostgreSQL: the work runs on an asyncpg connection (SQLAlchemy's run_sync)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def __call__(self, work: Callable[[Connection], T]) -> T:
        async with self._engine.begin() as connection:
            return await connection.run_sync(work)

    async def close(self) -> None:
        return None


class SqliteWriterThread:
    """SQLite: one thread with its own connection runs each unit of work in one hop.

    aiosqlite sends every statement to a thread and back; a batch of inserts then costs
    a dozen hops through a busy event loop. Here the whole transaction is one hop.
    """

    def __init__(self, settings: Settings) -> None:
        _prepare_sqlite_file(settings.database_url)
        url = make_url(settings.database_url).set(drivername="sqlite+pysqlite")
        self._engine = sa_create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )
        _configure_sqlite(self._engine)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return work(connection)

    async def __call__(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=True)


def create_transactor(settings: Settings, engine: AsyncEngine) -> Transactor:
    """The write path for intake: a writer thread on SQLite, the async engine on PostgreSQL."""
    if settings.is_sqlite:
        return SqliteWriterThread(settings)
    return AsyncTransactor(engine)


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


class DatabaseNotReady(Exception):
    """The database is missing, unreachable or behind the code: the message says what to do."""


def database_name(settings: Settings) -> str:
    """The database as a person finds it: a SQLite file's full path, or its URL less password."""
    url = make_url(settings.database_url)
    if settings.is_sqlite and url.database and url.database != ":memory:":
        return str(Path(url.database).resolve())
    return url.render_as_string(hide_password=True)


def _reason(error: BaseException) -> str:
    """The driver's own words, on one line, without SQLAlchemy's statement and links."""
    cause = getattr(error, "orig", None) or error
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text


def _current_revision(connection: Connection) -> str | None:
    from sqlalchemy import inspect

    if not inspect(connection).has_table("alembic_version"):
        return None
    revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return str(revision) if revision is not None else None


async def check_schema(settings: Settings) -> None:
    """Raise DatabaseNotReady unless the database exists at the newest revision.

    Never creates anything: a SQLite file that is not there is reported, not made (SQLite
    would otherwise leave an empty file behind, and the next command would read that).
    """
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    name = database_name(settings)
    database = make_url(settings.database_url).database
    if (
        settings.is_sqlite
        and database != ":memory:"
        and not await asyncio.to_thread(Path(database or "").is_file)
    ):
        raise DatabaseNotReady(f"no database at {name}: run `inquiry migrate` to create it")
    # No pragmas and no pool: only a look at alembic_version, which writes nothing.
    engine = create_async_engine(settings.database_url, poolclass=NullPool, hide_parameters=True)
    try:
        async with engine.connect() as connection:
            revision = await connection.run_sync(_current_revision)
    except (SQLAlchemyError, OSError) as error:
        raise DatabaseNotReady(f"cannot read the database {name}: {_reason(error)}") from error
    finally:
        await engine.dispose()
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    newest = scripts.get_current_head()
    if revision is None:
        raise DatabaseNotReady(f"the database {name} has no tables yet: run `inquiry migrate`")
    if revision != newest:
        known = any(script.revision == revision for script in scripts.walk_revisions())
        if not known:
            raise DatabaseNotReady(
                f"the database {name} is at revision {revision}, newer than this version of "
                "inquiry knows: upgrade inquiry"
            )
        raise DatabaseNotReady(
            f"the database {name} is at revision {revision}, not {newest}: run `inquiry migrate`"
        )


async def migrate_or_explain(settings: Settings, revision: str = "head") -> None:
    """migrate(), with a database that cannot be created or written to told in one line."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        await migrate(settings, revision)
    except (SQLAlchemyError, OSError, CommandError) as error:
        reason = _reason(error)
        denied = isinstance(error, PermissionError) or any(
            words in reason for words in ("unable to open", "readonly", "read-only")
        )
        hint = " (is its folder writable?)" if settings.is_sqlite and denied else ""
        raise DatabaseNotReady(
            f"cannot create or update the database {database_name(settings)}{hint}: {reason}"
        ) from error
