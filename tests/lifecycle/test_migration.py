"""Migration 0007 from the schema before it: statuses from the tasks, contact keys, and back."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inquiry.contacts import contact_keys, name_words
from inquiry.models import inquiry_table
from inquiry.staff.search import matching
from tests.migrations import differences, move

AT = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
_TS = sa.DateTime(timezone=True)

OLD_INQUIRY = sa.table(
    "inquiry",
    *(sa.column(name) for name in ("id", "reference", "status", "quarantine_reason", "name")),
    *(sa.column(name) for name in ("email", "phone", "preferred_contact", "callback_window")),
    *(sa.column(name) for name in ("voicemail_ok", "subject", "message", "language", "consent")),
    *(sa.column(name) for name in ("source", "topic", "priority", "crisis", "triage_reasons")),
    sa.column("created_at", _TS),
)
OLD_TASK = sa.table(
    "callback_task",
    *(sa.column(name) for name in ("inquiry_id", "phone", "name", "language", "voicemail_ok")),
    *(sa.column(name) for name in ("callback_window", "priority", "priority_rank", "queue_band")),
    *(sa.column(name) for name in ("on_call", "status", "claimed_by", "attempts", "close_reason")),
    *(sa.column(name, _TS) for name in ("created_at", "due_at", "next_attempt_at", "closed_at")),
    sa.column("claimed_until", _TS),
)
STAFF = sa.table(
    "staff",
    *(sa.column(name) for name in ("id", "email", "name", "role", "active")),
    sa.column("created_at", _TS),
)

G, IP, UN = "general", "in_progress", "unreachable"
# name: (status before, email, topic, task as (status, close reason, attempts) or None,
#        status after, close reason after)
CASES: dict[str, tuple[str, str | None, str, tuple[str, str | None, int] | None, str, Any]] = {
    "Quinn Spam": ("quarantined", "q@example.ca", "spam", None, "closed", "spam"),
    "Ada Reached": ("new", "a@example.ca", G, ("done", "reached", 1), "closed", "resolved"),
    "Ben Declined": ("new", None, G, ("done", "declined", 1), "closed", "resolved"),
    "Cy Gone": ("new", "c@example.ca", G, (UN, "busy", 3), "closed", UN),
    "Di Wrong": ("new", "d@example.ca", G, (UN, "wrong_number", 1), IP, None),
    "Ed Wrong": ("new", None, G, (UN, "wrong_number", 1), "closed", UN),
    "Flo Spam": ("new", None, "spam", ("cancelled", "triage override: spam", 0), "closed", "spam"),
    "Gus Cancel": ("new", None, G, ("cancelled", "Visitor emailed", 0), IP, None),
    "Hal Held": ("new", None, G, ("claimed", None, 0), IP, None),
    "Ivy Tried": ("new", None, G, ("open", None, 1), IP, None),
    "Hélène Côté-O'Brien": ("new", None, G, ("open", None, 0), "new", None),
    "Jo Email": ("new", "jo@example.ca", G, None, "new", None),
}  # fmt: skip


async def seed_old(connection: AsyncConnection) -> None:
    await connection.execute(
        sa.insert(STAFF).values(
            id=1, email="agent@example.ca", name="", role="agent", active=True, created_at=AT
        )
    )
    for number, (name, (status, email, topic, task, _, _)) in enumerate(CASES.items(), 1):
        await connection.execute(
            sa.insert(OLD_INQUIRY).values(
                id=number,
                reference=f"INQ-M{number:05d}",
                created_at=AT,
                status=status,
                quarantine_reason="honeypot" if status == "quarantined" else None,
                name=name,
                email=email,
                phone=f"+1416555{number:04d}",
                preferred_contact="phone",
                callback_window="any",
                voicemail_ok=True,
                subject="",
                message="Please call me.",
                language="en",
                consent=True,
                source="api",
                topic=topic,
                priority="low",
                crisis=False,
                triage_reasons="[]",
            )
        )
        if task is None:
            continue
        task_status, reason, attempts = task
        await connection.execute(
            sa.insert(OLD_TASK).values(
                inquiry_id=number,
                phone=f"+1416555{number:04d}",
                name=name,
                language="en",
                voicemail_ok=True,
                callback_window="any",
                priority="low",
                priority_rank=3,
                queue_band=1,
                on_call=False,
                status=task_status,
                claimed_by=1 if task_status == "claimed" else None,
                claimed_until=AT if task_status == "claimed" else None,
                attempts=attempts,
                close_reason=reason,
                created_at=AT,
                due_at=AT,
                next_attempt_at=AT,
                closed_at=AT if reason else None,
            )
        )


async def rows(connection: AsyncConnection, sql: str) -> list[Any]:
    return list((await connection.execute(sa.text(sql))).all())


class TestMigration0007:
    @pytest.fixture
    async def migrated(self, engine: AsyncEngine) -> AsyncEngine:
        async with engine.begin() as connection:
            await connection.run_sync(move, "downgrade", "0006")
            await seed_old(connection)
        async with engine.begin() as connection:
            await connection.run_sync(move, "upgrade", "head")
        return engine

    async def test_each_inquiry_gets_the_status_its_task_implies(
        self, migrated: AsyncEngine
    ) -> None:
        async with migrated.connect() as connection:
            found = {
                row.name: (row.status, row.close_reason)
                for row in await rows(connection, "SELECT name, status, close_reason FROM inquiry")
            }
            history = await rows(
                connection,
                "SELECT i.name, c.from_status, c.to_status, c.close_reason, c.staff_id, c.cause"
                " FROM inquiry_status_change c JOIN inquiry i ON i.id = c.inquiry_id",
            )
            assert await connection.run_sync(differences) == []
        assert found == {name: case[4:] for name, case in CASES.items()}
        moved = {
            name: (case[4], case[5])
            for name, case in CASES.items()
            if case[3] is not None and case[4] != "new"
        }
        assert {row.name: (row.to_status, row.close_reason) for row in history} == moved
        assert {(row.from_status, row.staff_id, row.cause) for row in history} == {
            ("new", None, "callback task")
        }

    async def test_every_inquiry_gets_the_contact_keys_intake_would_give_it(
        self, migrated: AsyncEngine
    ) -> None:
        async with migrated.connect() as connection:
            inquiries = await rows(connection, "SELECT id, name, email, phone FROM inquiry")
            keys = await rows(connection, "SELECT inquiry_id, key FROM inquiry_contact_key")
            helene = await connection.scalar(
                sa.select(inquiry_table.c.reference).where(matching("helene obri"))
            )
        expected = {
            (row.id, key)
            for row in inquiries
            for key in contact_keys(name=row.name, email=row.email, phone=row.phone)
        }
        assert {(row.inquiry_id, row.key) for row in keys} == expected
        assert len(expected) == 25 + 12 + 5  # name words, phones, emails
        assert helene == "INQ-M00011"

    async def test_the_frozen_copy_of_the_name_words_is_the_one_intake_uses(self) -> None:
        revision = importlib.import_module("inquiry.migrations.versions.0007_inquiry_lifecycle")
        for name in (*CASES, "ÅSA  Ünal_Lee", "李 小龍", "D'Arcy McDonald-O’Neil", "x" * 60):
            assert revision._name_words(name) == name_words(name)

    async def test_it_downgrades_with_the_rows_and_upgrades_again(
        self, migrated: AsyncEngine
    ) -> None:
        async with migrated.begin() as connection:
            await connection.run_sync(move, "downgrade", "0006")
        async with migrated.connect() as connection:
            statuses = {
                row.name: row.status
                for row in await rows(connection, "SELECT name, status FROM inquiry")
            }
            tasks = await connection.scalar(sa.text("SELECT count(*) FROM callback_task"))
        assert statuses == {
            name: "quarantined" if name == "Quinn Spam" else "new" for name in CASES
        }
        assert tasks == 10
        async with migrated.begin() as connection:
            await connection.run_sync(move, "upgrade", "head")
        async with migrated.connect() as connection:
            assert await connection.run_sync(differences) == []
