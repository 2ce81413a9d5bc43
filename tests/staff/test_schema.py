"""Migration 0002 and the table models agree, on SQLite and PostgreSQL; it downgrades cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import inquiry.callbacks.models
from tests.migrations import differences, move

OURS = ("staff", "api_token", "callback_task", "callback_attempt", "triage_override", "audit_entry")


def _names(table: str, difference: str) -> bool:
    return f"'{table}'" in difference or f"<{table}>" in difference


def _tables(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


class TestMigration:
    async def test_the_migration_creates_what_the_models_describe(
        self, engine: AsyncEngine
    ) -> None:
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
        ours = [d for d in found if any(_names(t, repr(d)) for t in OURS)]
        assert ours == []
        assert "ix_callback_task_queue" in {
            i.name for i in inquiry.callbacks.models.task_table.indexes
        }

    async def test_it_downgrades_to_intake_and_upgrades_again(self, engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            await connection.run_sync(move, "downgrade", "0001")
            assert not set(OURS) & await connection.run_sync(_tables)
            await connection.run_sync(move, "upgrade", "head")
            assert set(OURS) <= await connection.run_sync(_tables)
