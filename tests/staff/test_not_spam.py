"""Releasing a quarantined inquiry: new again, triaged again, acknowledged once, called."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.models import task_table
from inquiry.config import Settings
from inquiry.models import audit_table
from tests.conftest import make_settings, valid_inquiry
from tests.staff.fixtures import StaffUser, act, inquiry_detail, on_inquiry, seed_task

SPAM = "We offer SEO services to rank your website first on Google. Cheap backlinks!"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, oncall_emails=["oncall@example.ca"])


async def quarantined(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/api/v1/inquiries", json=valid_inquiry(**body))
    assert response.status_code == 201
    reference: str = response.json()["reference"]
    return reference


async def outbox(engine: AsyncEngine, reference: str) -> list[tuple[str, str, bool]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.text(
                "SELECT kind, recipient, urgent FROM outbox_message JOIN inquiry"
                " ON inquiry.id = outbox_message.inquiry_id WHERE reference = :reference"
                " ORDER BY outbox_message.id"
            ),
            {"reference": reference},
        )
        return [(row.kind, row.recipient, bool(row.urgent)) for row in rows]


async def released_audit(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        detail = await connection.scalar(
            sa.select(audit_table.c.detail).where(audit_table.c.action == "inquiry.not_spam")
        )
    assert detail is not None
    found: dict[str, Any] = json.loads(detail)
    return found


class TestNotSpam:
    async def test_a_honeypot_catch_is_new_again_acknowledged_and_given_its_call(
        self,
        client: httpx.AsyncClient,
        agent: StaffUser,
        engine: AsyncEngine,
    ) -> None:
        reference = await quarantined(
            client, website="http://autofill.example", preferred_contact="phone"
        )
        before = await inquiry_detail(client, agent, reference)
        assert (before["status"], before["close_reason"], before["quarantine_reason"]) == (
            "closed",
            "spam",
            "honeypot",
        )
        assert await outbox(engine, reference) == []
        assert before["callback_task_id"] is None

        response = await on_inquiry(client, agent, reference, "not-spam")

        assert response.status_code == 200, response.text
        after = response.json()
        assert (after["status"], after["close_reason"], after["quarantine_reason"]) == (
            "new",
            None,
            None,
        )
        assert (after["topic"], after["priority"]) == ("new_patient", "normal")
        assert await outbox(engine, reference) == [
            ("visitor_acknowledgement", "marie@example.ca", False)
        ]
        assert after["callback_status"] == "open"
        [change] = after["history"]
        assert (change["from_status"], change["to_status"], change["cause"]) == (
            "closed",
            "new",
            "not spam",
        )
        assert await released_audit(engine) == {
            "quarantined_as": "honeypot",
            "old": {"topic": "new_patient", "priority": "normal"},
            "new": {"topic": "new_patient", "priority": "normal"},
            "queued": ["visitor_acknowledgement"],
            "callback": "created",
        }

    async def test_the_machine_still_calling_it_spam_gives_the_visitors_topic_or_general(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        own_topic = await quarantined(client, message=SPAM, topic="billing")
        no_topic = await quarantined(client, message=SPAM, topic=None)
        for reference in (own_topic, no_topic):
            before = await inquiry_detail(client, agent, reference)
            assert (before["quarantine_reason"], before["topic"]) == ("triage_spam", "spam")
            assert (await on_inquiry(client, agent, reference, "not-spam")).status_code == 200
        first = await inquiry_detail(client, agent, own_topic)
        second = await inquiry_detail(client, agent, no_topic)
        assert (first["topic"], first["priority"]) == ("billing", "normal")
        assert (second["topic"], second["priority"]) == ("general", "low")
        assert second["triage_reasons"][-1] == "not spam"
        assert first["overrides"] == []  # the machine's call, not a person's

    async def test_staff_may_set_the_topic_and_a_crisis_alerts_the_on_call(
        self, client: httpx.AsyncClient, agent: StaffUser, engine: AsyncEngine
    ) -> None:
        reference = await quarantined(client, message=SPAM)
        response = await on_inquiry(client, agent, reference, "not-spam", {"topic": "crisis"})
        after = response.json()
        assert (after["topic"], after["priority"], after["crisis"]) == ("crisis", "urgent", True)
        [override] = after["overrides"]
        assert (override["old_topic"], override["new_topic"], override["reason"]) == (
            "spam",
            "crisis",
            "not spam",
        )
        assert await outbox(engine, reference) == [
            ("visitor_acknowledgement", "marie@example.ca", True),
            ("urgent_alert", "oncall@example.ca", True),
        ]
        assert after["callback_status"] == "open"  # a crisis with a phone is always called

    async def test_a_spam_topic_is_not_a_release(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        reference = await quarantined(client, message=SPAM)
        response = await on_inquiry(client, agent, reference, "not-spam", {"topic": "spam"})
        assert response.status_code == 422

    async def test_one_acknowledged_before_is_not_acknowledged_again_and_its_call_reopens(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, engine: AsyncEngine
    ) -> None:
        reference = await quarantined(client, preferred_contact="phone")
        await on_inquiry(client, agent, reference, "status", {"status": "closed", "reason": "spam"})
        closed = await inquiry_detail(client, agent, reference)
        assert closed["callback_status"] == "cancelled"

        await on_inquiry(client, agent, reference, "not-spam")

        after = await inquiry_detail(client, agent, reference)
        assert after["status"] == "new"
        assert after["callback_status"] == "open"
        assert [kind for kind, _, _ in await outbox(engine, reference)] == [
            "admin_notification",
            "visitor_acknowledgement",
        ]
        assert (await released_audit(engine))["queued"] == []
        assert (await released_audit(engine))["callback"] == "reopened"

    @pytest.mark.parametrize("status", ["new", "in_progress", "closed:duplicate", "released"])
    async def test_only_an_inquiry_closed_as_spam_is_released(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, status: str
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        if status == "in_progress":
            await act(client, agent, task_id, "claim")
        if status == "closed:duplicate":
            body = {"status": "closed", "reason": "duplicate"}
            await on_inquiry(client, agent, inquiry_id, "status", body)
        if status == "released":
            body = {"status": "closed", "reason": "spam"}
            await on_inquiry(client, agent, inquiry_id, "status", body)
            assert (await on_inquiry(client, agent, inquiry_id, "not-spam")).status_code == 200
        response = await on_inquiry(client, agent, inquiry_id, "not-spam")
        assert (response.status_code, response.json()["error"]["code"]) == (
            409,
            "transition_not_allowed",
        )

    async def test_an_email_only_visitor_gets_an_email_task_not_a_call(
        self, client: httpx.AsyncClient, agent: StaffUser, engine: AsyncEngine
    ) -> None:
        reference = await quarantined(client, website="x", phone=None)
        await on_inquiry(client, agent, reference, "not-spam")
        assert (await inquiry_detail(client, agent, reference))["callback_status"] == "open"
        async with engine.connect() as connection:
            channels = list(await connection.scalars(sa.select(task_table.c.channel)))
        assert channels == ["email"]
        assert [kind for kind, _, _ in await outbox(engine, reference)] == [
            "visitor_acknowledgement"
        ]
