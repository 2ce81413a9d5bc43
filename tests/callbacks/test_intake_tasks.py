"""Intake creates the follow-up task in the inquiry's own transaction, when one is owed:
by phone or by email, as the topic and the visitor's preference say."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.models import task_table
from inquiry.models import as_utc, inquiry_table
from tests.conftest import valid_inquiry

URL = "/api/v1/inquiries"


async def task_for(engine: AsyncEngine, reference: str) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(task_table, inquiry_table.c.created_at.label("received_at"))
                .join(inquiry_table, inquiry_table.c.id == task_table.c.inquiry_id)
                .where(inquiry_table.c.reference == reference)
            )
        ).first()
    return dict(row._mapping) if row else None


async def submit(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post(URL, json=valid_inquiry(**fields))
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    return reference


class TestTaskOnIntake:
    async def test_a_visitor_who_prefers_a_call_gets_a_task(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        reference = await submit(client, preferred_contact="phone", callback_window="evening")
        task = await task_for(engine, reference)
        assert task is not None
        assert task["status"] == "open"
        assert task["phone"] == "+14165550199"
        assert (task["name"], task["language"]) == ("Marie Tremblay", "en")
        assert (task["callback_window"], task["voicemail_ok"]) == ("evening", True)
        assert (task["priority"], task["priority_rank"], task["queue_band"]) == ("normal", 2, 1)
        assert task["on_call"] is False
        assert task["attempts"] == 0
        assert as_utc(task["created_at"]) == as_utc(task["received_at"])
        assert as_utc(task["next_attempt_at"]) == as_utc(task["received_at"])
        assert as_utc(task["due_at"]) > as_utc(task["received_at"])

    async def test_crisis_with_a_phone_is_an_urgent_on_call_task_due_at_once(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        reference = await submit(
            client, message="I can't go on, I am thinking of ending my life tonight."
        )
        task = await task_for(engine, reference)
        assert task is not None
        assert (task["priority"], task["queue_band"], task["on_call"]) == ("urgent", 0, True)
        assert as_utc(task["due_at"]) == as_utc(task["received_at"])

    async def test_clinical_with_a_phone_is_called_even_when_email_was_preferred(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        reference = await submit(
            client,
            topic="clinical",
            subject="Side effects",
            message="After my last infusion I had strong nausea and dizziness for two days. "
            "Is that expected with my current medication?",
        )
        task = await task_for(engine, reference)
        assert task is not None
        assert task["priority"] == "high"

    async def test_a_general_question_gets_a_task_only_when_a_call_was_asked_for(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        by_email = await submit(client, topic="general", subject="Parking")
        by_phone = await submit(
            client, topic="general", subject="Parking", preferred_contact="phone"
        )
        assert await task_for(engine, by_email) is None
        task = await task_for(engine, by_phone)
        assert task is not None
        assert task["channel"] == "phone"

    @pytest.mark.parametrize("topic", ["new_patient", "appointment", "billing", "referral"])
    @pytest.mark.parametrize("preferred", ["email", "phone"])
    async def test_these_topics_get_a_task_in_the_preferred_channel(
        self, client: httpx.AsyncClient, engine: AsyncEngine, topic: str, preferred: str
    ) -> None:
        reference = await submit(
            client,
            topic=topic,
            subject="About my file",
            # Worded so that the visitor's topic stands: the triage model reads a vague plea
            # for help with no topic words ("help me with my file") as possible crisis.
            message="I have a question about my file. Thank you.",
            preferred_contact=preferred,
        )
        task = await task_for(engine, reference)
        assert task is not None
        assert task["channel"] == preferred
        assert (task["phone"], task["email"]) == ("+14165550199", "marie@example.ca")

    async def test_a_clinical_question_without_a_phone_number_gets_an_email_task(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        reference = await submit(
            client,
            phone=None,
            topic="clinical",
            subject="Side effects",
            message="After my last infusion I had strong nausea and dizziness for two days. "
            "Is that expected with my current medication?",
        )
        task = await task_for(engine, reference)
        assert task is not None
        assert (task["channel"], task["phone"], task["priority"]) == ("email", None, "high")

    async def test_a_crisis_with_an_email_address_only_is_an_urgent_email_task(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        reference = await submit(
            client, phone=None, message="I can't go on, I am thinking of ending my life tonight."
        )
        task = await task_for(engine, reference)
        assert task is not None
        assert (task["channel"], task["email"], task["phone"]) == (
            "email",
            "marie@example.ca",
            None,
        )
        assert (task["priority"], task["queue_band"], task["on_call"]) == ("urgent", 0, True)
        assert as_utc(task["due_at"]) == as_utc(task["received_at"])

    async def test_spam_never_gets_a_task(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        reference = await submit(client, preferred_contact="phone", website="http://spam.example")
        assert await task_for(engine, reference) is None

    async def test_a_replayed_submission_does_not_owe_a_second_call(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        body = valid_inquiry(preferred_contact="phone")
        headers = {"Idempotency-Key": "replay-key-0001"}
        first = await client.post(URL, json=body, headers=headers)
        second = await client.post(URL, json=body, headers=headers)
        assert first.json()["reference"] == second.json()["reference"]
        async with engine.connect() as connection:
            count = await connection.scalar(sa.select(sa.func.count()).select_from(task_table))
        assert count == 1
