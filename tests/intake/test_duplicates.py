"""The same person writing twice: linked inquiries, one task, and unlinking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.app import create_app
from inquiry.callbacks.models import task_table
from inquiry.config import Settings
from inquiry.intake import duplicates
from inquiry.models import (
    OutboxKind,
    as_utc,
    contact_key_table,
    inquiry_table,
    outbox_table,
    utcnow,
)
from tests.conftest import make_settings, valid_inquiry
from tests.staff.fixtures import StaffUser, agent, clock, inquiry_detail, on_inquiry

__all__ = ["agent", "clock"]  # fixtures

URL = "/api/v1/inquiries"
Q = "/api/v1/staff/callbacks"
CRISIS = "I can't go on, I am thinking of ending my life tonight."


async def submit(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post(URL, json=valid_inquiry(**fields))
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    return reference


async def tasks(engine: AsyncEngine) -> list[tuple[str, str, str, str]]:
    """(inquiry reference, channel, priority, status) of every task, oldest first."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(
                inquiry_table.c.reference,
                task_table.c.channel,
                task_table.c.priority,
                task_table.c.status,
            )
            .join(inquiry_table, inquiry_table.c.id == task_table.c.inquiry_id)
            .order_by(task_table.c.id)
        )
        return [tuple(row) for row in rows]


class TestLinking:
    async def test_a_second_inquiry_from_the_same_address_is_linked_and_shares_one_task(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        agent: StaffUser,
    ) -> None:
        first = await submit(client)  # new patient, by email: a normal email task
        second = await submit(client, phone="416 555 0199", message=CRISIS)

        # The crisis, with a number, makes the shared task an urgent call.
        assert await tasks(engine) == [(first, "phone", "urgent", "open")]
        [task] = (await client.get(Q, headers=agent.headers)).json()["tasks"]
        assert (task["reference"], task["linked"]) == (first, [second])
        assert (task["priority"], task["on_call"], task["overdue"]) == ("urgent", True, False)
        detail = await inquiry_detail(client, agent, second)
        assert (detail["duplicate_of"], detail["callback_task_id"]) == (first, task["id"])
        assert (await inquiry_detail(client, agent, first))["duplicates"] == [second]
        # Both are stored and acknowledged as usual.
        async with engine.connect() as connection:
            acknowledged = await connection.scalar(
                sa.select(sa.func.count())
                .select_from(outbox_table)
                .where(outbox_table.c.kind == OutboxKind.VISITOR_ACKNOWLEDGEMENT)
            )
        assert acknowledged == 2

    async def test_the_shared_task_is_held_to_the_earlier_promise(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        async def due_times() -> list[tuple[Any, Any]]:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    sa.select(task_table.c.first_due_at, task_table.c.due_at)
                )
                return [(as_utc(first), as_utc(due)) for first, due in rows]

        await submit(client)  # a normal task, due within days
        [(normal, _)] = await due_times()
        await submit(client, phone="416 555 0199", message=CRISIS)  # urgent: due at once
        [(first_due, due)] = await due_times()
        assert first_due == due
        assert first_due < normal

    async def test_a_call_owed_by_the_duplicate_turns_an_email_task_into_a_call(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        first = await submit(client, phone=None)
        await submit(client, email="other@example.ca", phone=None)  # someone else
        await submit(client, preferred_contact="phone", phone="+1 416 555 0199")
        assert [(ref, channel) for ref, channel, _, _ in await tasks(engine)][0] == (
            first,
            "phone",
        )
        assert len(await tasks(engine)) == 2

    async def test_the_same_number_written_another_way_links_them(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        first = await submit(client, email=None, preferred_contact="phone")
        await submit(client, email="new@example.ca", phone="+1 (416) 555-0199")
        assert [row[0] for row in await tasks(engine)] == [first]

    async def test_another_name_at_the_same_address_is_another_person(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        # A family's shared address: the crisis is answered on its own call, to its own number.
        first = await submit(client, name="Marie Tremblay")
        crisis = await submit(
            client, name="Sam Gagnon", message=CRISIS, topic=None, phone="416-555-0123"
        )
        assert [row[:3] for row in await tasks(engine)] == [
            (first, "email", "normal"),
            (crisis, "phone", "urgent"),
        ]

    async def test_a_shared_name_word_is_enough(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        first = await submit(client, name="Marie Tremblay")
        await submit(client, name="marie", message=CRISIS, topic=None)
        assert [row[:3] for row in await tasks(engine)] == [(first, "phone", "urgent")]

    @pytest.mark.parametrize("how", ["closed", "old"])
    async def test_no_link_to_a_closed_or_an_old_inquiry(
        self, client: httpx.AsyncClient, engine: AsyncEngine, how: str
    ) -> None:
        first = await submit(client)
        async with engine.begin() as connection:
            change = (
                {"status": "closed", "close_reason": "resolved"}
                if how == "closed"
                else {"created_at": inquiry_table.c.created_at - timedelta(days=14, seconds=1)}
            )
            await connection.execute(sa.update(inquiry_table).values(**change))
        second = await submit(client)
        assert [row[0] for row in await tasks(engine)] == [first, second]

    async def test_spam_is_never_linked(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await submit(client)
        await submit(client, website="http://spam.example")
        async with engine.connect() as connection:
            linked = await connection.scalar(
                sa.select(sa.func.count()).where(inquiry_table.c.duplicate_of.is_not(None))
            )
        assert linked == 0


@pytest.fixture
async def second_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """Another instance of the service on the same database, as a second replica would be."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


class TestConcurrentDuplicates:
    async def test_two_instances_storing_one_persons_inquiries_at_once_make_one_task(
        self,
        app: FastAPI,
        second_app: FastAPI,
        engine: AsyncEngine,
    ) -> None:
        transports = [httpx.ASGITransport(app=a) for a in (app, second_app)]
        async with (
            httpx.AsyncClient(transport=transports[0], base_url="http://testserver") as one,
            httpx.AsyncClient(transport=transports[1], base_url="http://testserver") as two,
        ):
            for person in range(5):
                body = {"email": f"p{person}@example.ca", "phone": None, "message": CRISIS}
                await asyncio.gather(submit(one, **body), submit(two, **body))
        stored = await tasks(engine)
        assert len(stored) == 5
        async with engine.connect() as connection:
            linked = await connection.scalar(
                sa.select(sa.func.count()).where(inquiry_table.c.duplicate_of.is_not(None))
            )
        assert linked == 5

    async def test_one_batch_with_both_makes_one_task(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await asyncio.gather(*(submit(client, message=CRISIS) for _ in range(4)))
        assert len(await tasks(engine)) == 1

    async def test_duplicates_stored_together_each_fold_into_the_open_task(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        """One batch's duplicates of one person merge in turn: the routine one changes
        nothing, the crisis with a number makes the shared task an urgent call."""
        first = await submit(client, phone=None)
        await asyncio.gather(
            submit(client, phone=None),
            submit(client, phone="416 555 0199", message=CRISIS),
            submit(client, phone=None),
        )
        assert await tasks(engine) == [(first, "phone", "urgent", "open")]


class TestLinkedInquiriesFollow:
    async def test_the_shared_task_moves_both_inquiries(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        first = await submit(client)
        second = await submit(client, message="Me again: when can I start?")
        [task] = (await client.get(Q, headers=agent.headers)).json()["tasks"]
        await client.post(f"{Q}/{task['id']}/claim", headers=agent.headers)
        assert (await inquiry_detail(client, agent, second))["status"] == "in_progress"
        await client.post(
            f"{Q}/{task['id']}/attempts", headers=agent.headers, json={"outcome": "replied"}
        )
        for reference in (first, second):
            detail = await inquiry_detail(client, agent, reference)
            assert (detail["status"], detail["close_reason"]) == ("closed", "resolved")
        assert detail["history"][-1]["cause"] == "linked inquiry closed"


class TestUnlink:
    async def test_unlinking_gives_the_inquiry_its_own_task_and_the_shared_one_its_priority(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        agent: StaffUser,
    ) -> None:
        first = await submit(client)
        second = await submit(client, phone="416 555 0199", message=CRISIS)

        response = await on_inquiry(client, agent, second, "unlink")

        assert response.status_code == 200, response.text
        assert response.json()["duplicate_of"] is None
        assert await tasks(engine) == [
            (first, "email", "normal", "open"),
            (second, "phone", "urgent", "open"),
        ]
        assert (await inquiry_detail(client, agent, first))["duplicates"] == []

    async def test_an_inquiry_that_is_not_linked_cannot_be_unlinked(
        self, client: httpx.AsyncClient, engine: AsyncEngine, agent: StaffUser
    ) -> None:
        first = await submit(client)
        response = await on_inquiry(client, agent, first, "unlink")
        assert (response.status_code, response.json()["error"]["code"]) == (
            409,
            "transition_not_allowed",
        )
        missing = await on_inquiry(client, agent, "INQ-NOPE0000", "unlink")
        assert missing.status_code in (404, 422)


class TestWithoutAWindow:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(database_url, tmp_path, duplicate_window_days=0)

    async def test_a_window_of_zero_days_links_nothing(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await submit(client, message=CRISIS)
        await asyncio.gather(*(submit(client, message=CRISIS) for _ in range(2)))
        assert len(await tasks(engine)) == 3


class TestLookupPlan:
    async def test_keys_and_inquiries_are_read_by_index_without_statistics(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        """A batch's lookups read each of its keys, each inquiry found and each name word by
        index, on tables never analysed: planned as joins without statistics, PostgreSQL
        scanned whole tables, and every batch took longer as the inquiries grew."""
        await submit(client)
        keys = [f"e:visitor{n}@example.com" for n in range(64)]
        async with engine.begin() as connection:
            first = (await connection.execute(sa.select(sa.func.min(inquiry_table.c.id)))).scalar()
            await connection.execute(
                sa.insert(contact_key_table),
                [{"key": f"e:other{n}@example.com", "inquiry_id": first} for n in range(20_000)],
            )
        pg = engine.dialect.name == "postgresql"
        since = utcnow() - timedelta(days=14)
        names = [f"n:name{n}" for n in range(8)]
        if pg:
            plans = [
                await _plan(
                    engine,
                    duplicates._OPEN_BY_KEY_PG,
                    {"keys": keys, "batch_ids": [10**6], "since": since},
                ),
                await _plan(engine, duplicates._SHARED_NAMES_PG, {"keys": names, "ids": [first]}),
            ]
            for plan in plans:
                assert "Seq Scan" not in plan, plan
                assert "inquiry_contact_key_pkey" in plan, plan
            assert "inquiry_pkey" in plans[0], plans[0]
        else:
            plan = await _plan(
                engine,
                duplicates._OPEN_BY_KEY,
                {"keys": json.dumps(keys), "batch_ids": json.dumps([10**6]), "since": since},
            )
            assert "SEARCH k USING PRIMARY KEY (key=?)" in plan, plan
            assert "SEARCH i USING INTEGER PRIMARY KEY" in plan, plan
            values = {"keys": json.dumps(names), "ids": json.dumps([first])}
            plan = await _plan(engine, duplicates._SHARED_NAMES, values)
            assert "PRIMARY KEY (key=? AND inquiry_id=?)" in plan, plan


async def _plan(engine: AsyncEngine, statement: sa.TextClause, values: dict[str, Any]) -> str:
    """The database's plan for one of the duplicate check's statements, as text."""
    pg = engine.dialect.name == "postgresql"
    explain = sa.text(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + statement.text)
    if "since" in values:
        explain = explain.bindparams(duplicates._SINCE)
    async with engine.connect() as connection:
        rows = await connection.execute(explain, values)
        return "\n".join(" ".join(map(str, row)) for row in rows)
