"""The group-commit writer: reference collisions are retried, never answered with an error."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.intake import writer as writer_module
from inquiry.intake.writer import Submission, _key_taken, purge_expired_keys
from inquiry.models import as_utc, idempotency_table, inquiry_table, outbox_table, utcnow
from tests.conftest import valid_inquiry
from tests.intake.conftest import URL, count, stored


async def taken_reference(client: httpx.AsyncClient) -> str:
    response = await client.post(URL, json=valid_inquiry())
    reference: str = response.json()["reference"]
    return reference


class TestReferenceCollisions:
    async def test_a_colliding_reference_is_replaced_and_the_inquiry_stored(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        taken = await taken_reference(client)
        row = await stored(engine, taken)
        submissions = []
        original = Submission.__init__

        def colliding(self: Submission, *args: object, **kwargs: object) -> None:
            original(self, *args, **kwargs)  # type: ignore[arg-type]
            self.reference = taken
            submissions.append(self)

        monkeypatch.setattr(Submission, "__init__", colliding)
        # Several at once, so the collision happens inside a shared batch too.
        responses = await asyncio.gather(
            *(client.post(URL, json=valid_inquiry(email=f"v{n}@example.ca")) for n in range(5))
        )

        assert {r.status_code for r in responses} == {201}
        references = {r.json()["reference"] for r in responses}
        assert taken not in references
        assert len(references) == 5
        assert await count(engine, inquiry_table) == 6
        assert (await stored(engine, taken))["id"] == row["id"]  # the first one is untouched
        assert len(submissions) == 5

    async def test_a_batch_that_collided_is_tried_again_whole(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Not one commit per inquiry: that held the writer, and every request queued behind
        it, for a whole batch's worth of commits (p99 from about 40 to 90 ms under load)."""
        taken = await taken_reference(client)
        calls: list[tuple[set[int], bool]] = []  # the submissions of each write, and if it failed
        original = writer_module.write_batch

        def recorded(connection: sa.Connection, **kwargs: Any) -> list[Any]:
            ids = {id(submission) for submission in kwargs["batch"]}
            try:
                written: list[Any] = original(connection, **kwargs)
            except Exception:
                calls.append((ids, True))
                raise
            calls.append((ids, False))
            return written

        first = iter(range(1))

        def one_collides(self: Submission, *args: object, **kwargs: object) -> None:
            original_init(self, *args, **kwargs)  # type: ignore[arg-type]
            if next(first, None) is not None:
                self.reference = taken

        original_init = Submission.__init__
        monkeypatch.setattr(Submission, "__init__", one_collides)
        monkeypatch.setattr(writer_module, "write_batch", recorded)
        responses = await asyncio.gather(
            *(client.post(URL, json=valid_inquiry(email=f"v{n}@example.ca")) for n in range(8))
        )

        assert {r.status_code for r in responses} == {201}
        assert await count(engine, inquiry_table) == 9
        # Each answer names its own stored inquiry, and its mail carries that reference.
        references = [r.json()["reference"] for r in responses]
        assert taken not in references
        assert len(set(references)) == 8
        for reference in references:
            stored_row = await stored(engine, reference)
            async with engine.connect() as connection:
                message_ids = await connection.scalars(
                    sa.select(outbox_table.c.message_id).where(
                        outbox_table.c.inquiry_id == stored_row["id"]
                    )
                )
                owned = list(message_ids)
            assert len(owned) == 2
            assert all(m.startswith(f"<{reference}.") for m in owned)
        [(failed, _)] = [(ids, True) for ids, error in calls if error]
        assert len(failed) > 1  # the collision happened in a shared batch
        retried = [ids for ids, error in calls if ids & failed and not error]
        assert retried == [failed]  # written again together, in one commit


class TestKeyTaken:
    async def test_only_a_taken_key_is_worth_another_try(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await taken_reference(client)

        async def error_of(sql: str) -> BaseException:
            with pytest.raises(IntegrityError) as caught:
                async with engine.begin() as connection:
                    await connection.exec_driver_sql(sql)
            return caught.value

        assert _key_taken(await error_of("INSERT INTO inquiry SELECT * FROM inquiry"))
        assert not _key_taken(await error_of("UPDATE inquiry SET name = NULL"))

    def test_the_sqlite_drivers_own_errors_too(self) -> None:
        """The SQLite writer thread runs the driver directly: its errors come unwrapped."""
        connection = sqlite3.connect(":memory:")
        connection.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT NOT NULL)"
        )
        connection.execute("INSERT INTO t VALUES (1, 'a', 'x')")
        errors = []
        for sql in (
            "INSERT INTO t VALUES (1, 'b', 'x')",
            "INSERT INTO t VALUES (2, 'a', 'x')",
            "INSERT INTO t VALUES (3, 'c', NULL)",
        ):
            with pytest.raises(sqlite3.IntegrityError) as caught:
                connection.execute(sql)
            errors.append(caught.value)
        assert [_key_taken(error) for error in errors] == [True, True, False]


class TestTimes:
    async def test_each_row_of_a_shared_batch_keeps_its_own_time(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        responses = await asyncio.gather(
            *(client.post(URL, json=valid_inquiry(email=f"v{n}@example.ca")) for n in range(12))
        )
        received = {r.json()["reference"]: r.json()["received_at"] for r in responses}
        assert len(set(received.values())) > 1  # the batch really held several instants

        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.select(
                    inquiry_table.c.reference,
                    inquiry_table.c.created_at,
                    outbox_table.c.created_at.label("queued_at"),
                    outbox_table.c.next_attempt_at,
                ).join(outbox_table, outbox_table.c.inquiry_id == inquiry_table.c.id)
            )
            stored_times = [tuple(row) for row in rows]
        assert len(stored_times) == 24  # an admin copy and an acknowledgement each
        for reference, created, queued, first_attempt in stored_times:
            iso = as_utc(created).isoformat().replace("+00:00", "Z")
            assert iso == received[reference]
            assert as_utc(queued) == as_utc(first_attempt) == as_utc(created)


class TestOneBadSubmission:
    async def test_a_failing_submission_does_not_sink_its_batch(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
        database_url: str,
    ) -> None:
        original = Submission.__init__
        made: list[Submission] = []

        def poisoned(self: Submission, *args: object, **kwargs: object) -> None:
            original(self, *args, **kwargs)  # type: ignore[arg-type]
            made.append(self)
            if len(made) == 3:  # too long for its column: PostgreSQL refuses the row
                self.idempotency_key = "api:" + "x" * 300
                self.request_hash = "0" * 64

        monkeypatch.setattr(Submission, "__init__", poisoned)
        responses = await asyncio.gather(
            *(client.post(URL, json=valid_inquiry(email=f"v{n}@example.ca")) for n in range(6))
        )
        statuses = sorted(r.status_code for r in responses)
        if database_url.startswith("postgresql"):
            assert statuses == [201, 201, 201, 201, 201, 503]
            assert await count(engine, inquiry_table) == 5
        else:  # SQLite does not enforce VARCHAR lengths: nothing fails
            assert statuses == [201] * 6
            assert await count(engine, inquiry_table) == 6


class TestExpiredKeys:
    async def test_expired_answers_are_purged_and_inquiries_kept(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        for key in ("keep-me-12345", "expire-me-123"):
            await client.post(URL, json=valid_inquiry(), headers={"Idempotency-Key": key})
        async with engine.begin() as connection:
            await connection.execute(
                sa.update(idempotency_table)
                .where(idempotency_table.c.key == "api:expire-me-123")
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )

        assert await purge_expired_keys(engine, utcnow()) == 1

        async with engine.connect() as connection:
            keys = (await connection.execute(sa.select(idempotency_table.c.key))).scalars().all()
        assert keys == ["api:keep-me-12345"]
        assert await count(engine, inquiry_table) == 2
