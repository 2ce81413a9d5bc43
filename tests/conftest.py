"""Fixtures: a fresh database per test on SQLite and on PostgreSQL, and the app on top of it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.app import create_app
from inquiry.config import Settings
from inquiry.db import create_engine, migrate

# The servers the tests use; `bash .ci/run` points both at throwaway ones it starts.
PG_ADMIN_DSN = os.environ.get(
    "INQUIRY_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("INQUIRY_TEST_REDIS_URL", "redis://127.0.0.1:6379")
_TABLES = (
    "inquiry_erasure",
    "inquiry_contact_key",
    "inquiry_note",
    "inquiry_status_change",
    "audit_entry",
    "callback_attempt",
    "callback_task",
    "triage_override",
    "api_token",
    "staff_recovery_code",
    "staff",
    "idempotency_record",
    "outbox_message",
    "inquiry",
)


def _url_for_pg(database: str) -> str:
    rest = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{rest}/{database}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test is slower)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate(Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{path}")))
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database, migrated once; tables are emptied per test."""
    with scratch_pg_database("inquiry_test") as url:
        asyncio.run(migrate(Settings(_env_file=None, database_url=url)))
        yield url


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """An empty PostgreSQL database of a new name, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _url_for_pg(name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every database test runs on the embedded default and on production's PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "inquiry.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await connection.execute(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "mail_dir": tmp_path / "mail",
        "rate_limit_enabled": False,
        "worker_in_process": False,  # mail tests start their own worker
        "allowed_origins": ["https://www.ketaminetherapyclinic.ca"],
        "public_base_url": "http://testserver",
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A second engine on the test database, for checking what was stored."""
    database = create_engine(settings)
    yield database
    await database.dispose()


def valid_inquiry(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Marie Tremblay",
        "email": "marie@example.ca",
        "phone": "(416) 555-0199",
        "preferred_contact": "email",
        "callback_window": "morning",
        "voicemail_ok": True,
        "topic": "new_patient",
        "subject": "Starting treatment",
        "message": "Hello, I have treatment-resistant depression and would like to know "
        "how to start IV ketamine treatment at your clinic.",
        "language": "en",
        "consent": True,
    }
    body.update(overrides)
    return body


def refused_columns(
    tables: Iterable[sa.TableClause], converts: Callable[[sa.types.TypeEngine[Any]], bool]
) -> list[str]:
    """Columns of these tables of a type a fast path does not convert (`converts` says)."""
    return [
        f"{table.name}.{column.name}: {column.type!r}"
        for table in tables
        for column in table.columns
        if not converts(column.type)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server_env() -> dict[str, str]:
    """Extra INQUIRY_* settings for the live server (tests override this fixture)."""
    return {}


@dataclass
class LiveServer:
    base: str
    process: subprocess.Popen[str]
    log: Path
    output: str = ""

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until the server has logged `text` at least `count` times."""
        deadline = time.monotonic() + timeout
        while self.log.read_text(errors="replace").count(text) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"server never logged {text!r}:\n{self.log.read_text()}")
            time.sleep(0.05)


@contextmanager
def running_server(folder: Path, extra_env: dict[str, str]) -> Iterator[LiveServer]:
    """`inquiry serve` as a real process in `folder`; stopped with SIGTERM, output kept."""
    port = free_port()
    env = {**os.environ, "INQUIRY_PORT": str(port), **extra_env}
    if "INQUIRY_DATABASE_URL" not in extra_env:
        env.pop("INQUIRY_DATABASE_URL", None)
    log = folder / f"serve-{port}.log"
    with log.open("w") as output:  # a file, so tests can read it while the server runs
        process = subprocess.Popen(
            [sys.executable, "-m", "inquiry", "serve"],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            process.kill()
            process.wait(timeout=30)
            pytest.fail(f"server did not start: {log.read_text()}")
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        server.output = log.read_text(errors="replace")
    # A clean shutdown on SIGTERM exits 0: process managers report nothing failed.
    assert process.returncode == 0, server.output
    assert "Finished server process" in server.output


@pytest.fixture
def live_server(tmp_path: Path, live_server_env: dict[str, str]) -> Iterator[str]:
    """The service started the way the README starts it, in a fresh working folder."""
    with running_server(tmp_path, live_server_env) as server:
        yield server.base
    # PHIPA: message bodies never reach the logs.
    assert "treatment-resistant depression" not in server.output
