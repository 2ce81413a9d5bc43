"""Migration 0002 and the table models agree, on SQLite and PostgreSQL; it downgrades cleanly."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import inquiry.callbacks.models
import inquiry.staff.models  # noqa: F401 - registers the tables
from inquiry.db import MIGRATIONS_DIR

OURS = ("staff", "api_token", "callback_task", "callback_attempt", "triage_override", "audit_entry")


def _differences(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences: list[Any] = compare_metadata(context, SQLModel.metadata)
    return differences


def _move(connection: sa.Connection, direction: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    getattr(command, direction)(config, revision)


def _names(table: str, difference: str) -> bool:
    return f"'{table}'" in difference or f"<{table}>" in difference


def _tables(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


class TestMigration:
    async def test_the_migration_creates_what_the_models_describe(
        self, engine: AsyncEngine
    ) -> None:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
        ours = [d for d in differences if any(_names(t, repr(d)) for t in OURS)]
        assert ours == []
        assert "ix_callback_task_queue" in {
            i.name for i in inquiry.callbacks.models.task_table.indexes
        }

    async def test_it_downgrades_to_intake_and_upgrades_again(self, engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            await connection.run_sync(_move, "downgrade", "0001")
            assert not set(OURS) & await connection.run_sync(_tables)
            await connection.run_sync(_move, "upgrade", "head")
            assert set(OURS) <= await connection.run_sync(_tables)
