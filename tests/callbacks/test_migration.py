"""Migration 0010 from the schema before it: existing phone tasks keep working, and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.migrations import differences, move

AT = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
_TS = sa.DateTime(timezone=True)

INQUIRY = sa.table(
    "inquiry",
    *(sa.column(name) for name in ("id", "reference", "status", "name", "email", "phone")),
    *(sa.column(name) for name in ("preferred_contact", "callback_window", "voicemail_ok")),
    *(sa.column(name) for name in ("subject", "message", "language", "consent", "source")),
    *(sa.column(name) for name in ("topic", "priority", "crisis", "triage_reasons")),
    sa.column("created_at", _TS),
)
OLD_TASK = sa.table(
    "callback_task",
    *(sa.column(name) for name in ("id", "inquiry_id", "phone", "name", "language")),
    *(sa.column(name) for name in ("voicemail_ok", "callback_window", "priority")),
    *(sa.column(name) for name in ("priority_rank", "queue_band", "on_call", "status")),
    *(sa.column(name) for name in ("claimed_by", "attempts", "close_reason")),
    *(sa.column(name, _TS) for name in ("created_at", "due_at", "next_attempt_at", "closed_at")),
    sa.column("claimed_until", _TS),
)
ATTEMPT = sa.table(
    "callback_attempt",
    *(sa.column(name) for name in ("task_id", "staff_id", "outcome", "note")),
    sa.column("at", _TS),
)
STAFF = sa.table(
    "staff",
    *(sa.column(name) for name in ("id", "email", "name", "role", "active")),
    sa.column("created_at", _TS),
)
# task id: (email, status, attempts made an hour apart)
TASKS: dict[int, tuple[str | None, str, int]] = {
    1: ("a@example.ca", "open", 0),
    2: (None, "open", 2),
    3: ("c@example.ca", "done", 1),
    4: (None, "claimed", 0),
}


async def seed_before(connection: AsyncConnection) -> None:
    await connection.execute(
        sa.insert(STAFF).values(
            id=1, email="agent@example.ca", name="", role="agent", active=True, created_at=AT
        )
    )
    for number, (email, status, attempts) in TASKS.items():
        await connection.execute(
            sa.insert(INQUIRY).values(
                id=number,
                reference=f"INQ-C{number:05d}",
                created_at=AT,
                status="new",
                name="Marie Tremblay",
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
                topic="new_patient",
                priority="normal",
                crisis=False,
                triage_reasons="[]",
            )
        )
        await connection.execute(
            sa.insert(OLD_TASK).values(
                id=number,
                inquiry_id=number,
                phone=f"+1416555{number:04d}",
                name="Marie Tremblay",
                language="en",
                voicemail_ok=True,
                callback_window="any",
                priority="normal",
                priority_rank=2,
                queue_band=1,
                on_call=False,
                status=status,
                claimed_by=1 if status == "claimed" else None,
                claimed_until=AT if status == "claimed" else None,
                attempts=attempts,
                close_reason="reached" if status == "done" else None,
                created_at=AT,
                due_at=AT,
                next_attempt_at=AT,
                closed_at=AT if status == "done" else None,
            )
        )
        for hour in range(attempts):
            await connection.execute(
                sa.insert(ATTEMPT).values(
                    task_id=number,
                    staff_id=1,
                    outcome="no_answer",
                    note="",
                    at=AT + timedelta(hours=hour + 1),
                )
            )


async def rows(connection: AsyncConnection, sql: str) -> list[Any]:
    return list((await connection.execute(sa.text(sql))).all())


def utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class TestMigration0010:
    @pytest.fixture
    async def migrated(self, engine: AsyncEngine) -> AsyncEngine:
        async with engine.begin() as connection:
            await connection.run_sync(move, "downgrade", "0009")
            await seed_before(connection)
        async with engine.begin() as connection:
            await connection.run_sync(move, "upgrade", "head")
        return engine

    async def test_existing_tasks_are_phone_tasks_with_their_attempts_counted(
        self, migrated: AsyncEngine
    ) -> None:
        async with migrated.connect() as connection:
            tasks = await rows(
                connection,
                "SELECT id, channel, phone, email, status, attempts, counted_attempts,"
                " last_counted_at, extra_attempts FROM callback_task ORDER BY id",
            )
            counted = await rows(connection, "SELECT counted FROM callback_attempt")
            linked = await rows(connection, "SELECT duplicate_of FROM inquiry")
            assert await connection.run_sync(differences) == []
        for task in tasks:
            email, status, attempts = TASKS[task.id]
            assert (task.channel, task.phone, task.email, task.status) == (
                "phone",
                f"+1416555{task.id:04d}",
                email,
                status,
            )
            assert (task.attempts, task.counted_attempts, task.extra_attempts) == (
                attempts,
                attempts,
                0,
            )
            last = AT + timedelta(hours=attempts) if attempts else None
            assert utc(task.last_counted_at) == last
        assert {bool(row.counted) for row in counted} == {True}
        assert {row.duplicate_of for row in linked} == {None}

    async def test_the_queue_works_on_migrated_tasks_and_takes_new_kinds(
        self, migrated: AsyncEngine
    ) -> None:
        async with migrated.begin() as connection:
            # An email task beside a phone task on the same inquiry, and a task awaiting a
            # decision: what the schema before could not hold.
            await connection.execute(
                sa.text(
                    "INSERT INTO callback_task (id, inquiry_id, channel, phone, email, name,"
                    " language, callback_window, voicemail_ok, priority, priority_rank,"
                    " queue_band, on_call, status, created_at, due_at, first_due_at,"
                    " next_attempt_at, attempts, counted_attempts, extra_attempts) VALUES (5, 1,"
                    " 'email', NULL, 'a@example.ca', 'M', 'en', 'any', true, 'urgent', 0, 0,"
                    " true, 'awaiting_decision', :at, :at, :at, :at, 5, 5, 0)"
                ),
                {"at": AT},
            )
            queue = await rows(
                connection,
                "SELECT id FROM callback_task WHERE"
                " status IN ('open', 'claimed', 'awaiting_decision')"
                " ORDER BY queue_band, due_at, created_at, id",
            )
        assert [row.id for row in queue] == [5, 1, 2, 4]

    async def test_it_downgrades_to_one_phone_task_per_inquiry_and_upgrades_again(
        self, migrated: AsyncEngine
    ) -> None:
        async with migrated.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO callback_task (id, inquiry_id, channel, phone, email, name,"
                    " language, callback_window, voicemail_ok, priority, priority_rank,"
                    " queue_band, on_call, status, created_at, due_at, first_due_at,"
                    " next_attempt_at, attempts, counted_attempts, extra_attempts) VALUES (5, 2,"
                    " 'email', NULL, 'b@example.ca', 'M', 'en', 'any', true, 'normal', 2, 1,"
                    " false, 'open', :at, :at, :at, :at, 0, 0, 0)"
                ),
                {"at": AT},
            )
            await connection.execute(
                sa.text("UPDATE callback_task SET status = 'awaiting_decision' WHERE id = 1")
            )
        async with migrated.begin() as connection:
            await connection.run_sync(move, "downgrade", "0009")
        async with migrated.connect() as connection:
            tasks = await rows(connection, "SELECT id, status FROM callback_task ORDER BY id")
            attempts = await connection.scalar(sa.text("SELECT count(*) FROM callback_attempt"))
        assert [(row.id, row.status) for row in tasks] == [
            (1, "open"),
            (2, "open"),
            (3, "done"),
            (4, "claimed"),
        ]
        assert attempts == 3
        async with migrated.begin() as connection:
            await connection.run_sync(move, "upgrade", "head")
        async with migrated.connect() as connection:
            assert await connection.run_sync(differences) == []


class TestMigration0012:
    # first_due_at from due_at, first_attempt_at from the earliest attempt.
    async def test_stored_tasks_get_their_first_due_time_and_first_attempt_and_it_downgrades(
        self, engine: AsyncEngine
    ) -> None:
        async with engine.begin() as connection:
            await connection.run_sync(move, "downgrade", "0011")
            await connection.execute(sa.text("DELETE FROM callback_attempt"))
            await connection.execute(sa.text("DELETE FROM callback_task"))
            await seed_before_0012(connection)
        async with engine.begin() as connection:
            await connection.run_sync(move, "upgrade", "head")
        async with engine.connect() as connection:
            tasks = await rows(
                connection,
                "SELECT id, due_at, first_due_at, first_attempt_at FROM callback_task ORDER BY id",
            )
            assert await connection.run_sync(differences) == []
        assert [(task.id, utc(task.first_due_at)) for task in tasks] == [
            (1, AT + timedelta(hours=1)),
            (2, AT + timedelta(days=2)),
        ]
        assert all(utc(task.first_due_at) == utc(task.due_at) for task in tasks)
        assert [utc(task.first_attempt_at) for task in tasks] == [AT + timedelta(hours=2), None]
        async with engine.begin() as connection:
            await connection.run_sync(move, "downgrade", "0011")
        async with engine.connect() as connection:
            assert await rows(connection, "SELECT id FROM callback_task ORDER BY id") == [
                (1,),
                (2,),
            ]
        async with engine.begin() as connection:
            await connection.run_sync(move, "upgrade", "head")
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []


async def seed_before_0012(connection: AsyncConnection) -> None:
    """Two tasks as revision 0011 stores them: one due in an hour and attempted twice, one
    put off two days."""
    await connection.execute(
        sa.insert(STAFF).values(
            id=1, email="agent@example.ca", name="", role="agent", active=True, created_at=AT
        )
    )
    for number, due in ((1, AT + timedelta(hours=1)), (2, AT + timedelta(days=2))):
        await connection.execute(
            sa.text(
                "INSERT INTO inquiry (id, reference, created_at, status, name, email, phone,"
                " preferred_contact, callback_window, voicemail_ok, subject, message, language,"
                " consent, source, topic, priority, crisis, triage_reasons) VALUES (:id, :ref,"
                " :at, 'new', 'M', NULL, '+14165550100', 'phone', 'any', true, '', 'Call me.',"
                " 'en', true, 'api', 'new_patient', 'normal', false, '[]')"
            ),
            {"id": number, "ref": f"INQ-D{number:05d}", "at": AT},
        )
        await connection.execute(
            sa.text(
                "INSERT INTO callback_task (id, inquiry_id, channel, phone, name, language,"
                " callback_window, voicemail_ok, priority, priority_rank, queue_band, on_call,"
                " status, created_at, due_at, next_attempt_at, attempts, counted_attempts,"
                " extra_attempts) VALUES (:id, :id, 'phone', '+14165550100', 'M', 'en', 'any',"
                " true, 'normal', 2, 1, false, 'open', :at, :due, :due, 0, 0, 0)"
            ),
            {"id": number, "at": AT, "due": due},
        )
    for hours in (3, 2):  # the first task's attempts, not stored in order
        await connection.execute(
            sa.insert(ATTEMPT).values(
                task_id=1, staff_id=1, outcome="no_answer", note="", at=AT + timedelta(hours=hours)
            )
        )
