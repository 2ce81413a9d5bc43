"""The system tests: real `inquiry serve` and `inquiry worker` processes, an SMTP sink in a
process of its own, faults from outside (kill -9, SIGTERM, connections cut), and verdicts on
what the database and the sink hold afterwards: counts, never timings. Waits are bounded
only to fail instead of hanging.

Select them with `pytest tests/system` (or `-m system`). Budget: four minutes for the whole
group; it takes about two and a half on a shared 2-core machine. Each test starts its own
processes on free ports and a database of its own (PostgreSQL emptied, or a new SQLite file).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _truncate
from tests.system.harness import SmtpSink, smtp_sink


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/system/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.system)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with smtp_sink(tmp_path) as running:
        yield running


@pytest.fixture
def postgres(pg_database: str) -> str:
    """The test PostgreSQL database, migrated and empty."""
    asyncio.run(_truncate(pg_database))
    return pg_database


@pytest.fixture(params=["sqlite", "postgres"])
def system_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for processes to share: a new SQLite file (serve migrates it) or the
    test PostgreSQL database, emptied."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/inquiry.db"
    url: str = request.getfixturevalue("postgres")
    return url
