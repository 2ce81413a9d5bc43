"""`inquiry backup PATH`: a consistent copy of the SQLite database, taken while the service runs.

SQLite's online backup API copies the database as of one moment, pages and write-ahead log
alike, while intake goes on writing (in WAL mode a reader never blocks the writer). The copy is
written beside its destination and renamed into place once checked, so PATH is either absent
or a whole database. PostgreSQL is backed up with pg_dump (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from inquiry.config import Settings
from inquiry.db import check_schema

PG_DUMP_HINT = (
    "the database is PostgreSQL: back it up with pg_dump "
    '(e.g. `pg_dump --format=custom --file=inquiry.dump "$DATABASE"`; see docs/operations.md)'
)


class BackupRefused(Exception):
    """No backup was written; the message says why, in one line."""


async def backup(settings: Settings, target: Path) -> int:
    """Copy the SQLite database to `target` (which must not exist); returns its size in bytes."""
    if not settings.is_sqlite:
        raise BackupRefused(PG_DUMP_HINT)
    await check_schema(settings)  # an existing database at the newest revision, never a new one
    source = Path(make_url(settings.database_url).database or "")
    return await asyncio.to_thread(_copy, source, target)


def _copy(source: Path, target: Path) -> int:
    if target.exists():
        raise BackupRefused(f"{target} exists already: choose a new name")
    if not target.parent.is_dir():
        raise BackupRefused(f"{target.parent} is not a folder")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # Made empty first, readable by its owner only: it will hold health information.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(partial)) as copy:
            live.backup(copy)  # in one step: one consistent moment
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise BackupRefused(f"the copy failed its check: {verdict}")
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise BackupRefused(f"cannot copy {source}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size
