"""Email tasks beside calls: their outcomes, what each does to the inquiry, and one queue."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.models import Channel, task_table
from inquiry.models import outbox_table
from inquiry.triage.taxonomy import Topic
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    act,
    inquiry_detail,
    seed_task,
    toronto,
)

Q = "/api/v1/staff/callbacks"
EMAIL = Channel.EMAIL


async def claimed_email_task(
    app: FastAPI, client: httpx.AsyncClient, user: StaffUser, **seed: Any
) -> tuple[int, int]:
    inquiry_id, task_id = await seed_task(app, channel=EMAIL, **seed)
    response = await act(client, user, task_id, "claim")
    assert response.status_code == 200, response.text
    return inquiry_id, task_id


async def tasks_of(engine: AsyncEngine, inquiry_id: int) -> list[tuple[str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(task_table.c.channel, task_table.c.status)
            .where(task_table.c.inquiry_id == inquiry_id)
            .order_by(task_table.c.id)
        )
        return [(row.channel, row.status) for row in rows]


class TestEmailOutcomes:
    @pytest.mark.parametrize("outcome", ["replied", "no_reply_needed"])
    async def test_a_reply_or_none_needed_closes_the_inquiry_as_resolved(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, outcome: str
    ) -> None:
        inquiry_id, task_id = await claimed_email_task(app, client, agent, phone=None)
        response = await act(client, agent, task_id, "attempts", outcome=outcome, note="Sent")
        body = response.json()
        assert response.status_code == 200, response.text
        assert (body["channel"], body["status"], body["close_reason"]) == (
            "email",
            "done",
            outcome,
        )
        assert [(h["outcome"], h["counted"]) for h in body["history"]] == [(outcome, True)]
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert (detail["status"], detail["close_reason"]) == ("closed", "resolved")

    async def test_a_reply_kept_open_leaves_the_inquiry_in_progress(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, task_id = await claimed_email_task(app, client, agent)
        await act(client, agent, task_id, "attempts", outcome="replied", keep_open=True)
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert (detail["status"], detail["close_reason"]) == ("in_progress", None)

    async def test_a_bounce_with_a_number_is_followed_by_a_call(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        engine: AsyncEngine,
    ) -> None:
        inquiry_id, task_id = await claimed_email_task(app, client, agent, topic=Topic.CLINICAL)
        response = await act(client, agent, task_id, "attempts", outcome="bounced")
        assert (response.json()["status"], response.json()["close_reason"]) == (
            "unreachable",
            "bounced",
        )
        assert await tasks_of(engine, inquiry_id) == [("email", "unreachable"), ("phone", "open")]
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert (detail["status"], detail["callback_status"]) == ("in_progress", "open")
        [call] = (await client.get(f"{Q}?channel=phone", headers=agent.headers)).json()["tasks"]
        assert (call["inquiry_id"], call["priority"], call["phone"]) == (
            inquiry_id,
            "high",
            "+14165550199",
        )

    async def test_a_bounce_without_a_number_closes_the_inquiry_as_unreachable(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        engine: AsyncEngine,
    ) -> None:
        inquiry_id, task_id = await claimed_email_task(app, client, agent, phone=None)
        await act(client, agent, task_id, "attempts", outcome="bounced")
        assert await tasks_of(engine, inquiry_id) == [("email", "unreachable")]
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert (detail["status"], detail["close_reason"]) == ("closed", "unreachable")
        async with engine.connect() as connection:
            mail = await connection.scalar(sa.select(sa.func.count()).select_from(outbox_table))
        assert mail == 0  # the address bounced: nothing is written to it

    @pytest.mark.parametrize("outcome", ["reached", "no_answer", "voicemail", "wrong_number"])
    async def test_a_call_outcome_on_an_email_task_is_refused_and_nothing_changes(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        engine: AsyncEngine,
        outcome: str,
    ) -> None:
        inquiry_id, task_id = await claimed_email_task(app, client, agent)
        response = await act(client, agent, task_id, "attempts", outcome=outcome)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "transition_not_allowed"
        assert "replied" in response.json()["error"]["message"]
        assert await tasks_of(engine, inquiry_id) == [("email", "claimed")]

    @pytest.mark.parametrize("outcome", ["replied", "no_reply_needed", "bounced"])
    async def test_an_email_outcome_on_a_call_is_refused(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, outcome: str
    ) -> None:
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        response = await act(client, agent, task_id, "attempts", outcome=outcome)
        assert (response.status_code, response.json()["error"]["code"]) == (
            409,
            "transition_not_allowed",
        )


class TestOneQueue:
    async def test_the_order_runs_across_both_channels_and_a_list_keeps_one(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, email_normal = await seed_task(app, channel=EMAIL)
        _, call_overdue = await seed_task(app, topic=Topic.BILLING, at=toronto(2026, 6, 1, 10))
        _, email_urgent = await seed_task(
            app, channel=EMAIL, phone=None, topic=Topic.CRISIS, at=toronto(2026, 6, 3, 9, 30)
        )
        _, call_urgent = await seed_task(app, topic=Topic.CRISIS)

        everything = (await client.get(Q, headers=agent.headers)).json()["tasks"]
        emails = (await client.get(f"{Q}?channel=email", headers=agent.headers)).json()["tasks"]
        calls = (await client.get(f"{Q}?channel=phone", headers=agent.headers)).json()["tasks"]

        assert [t["id"] for t in everything] == [
            email_urgent,
            call_urgent,
            call_overdue,
            email_normal,
        ]
        assert [t["id"] for t in emails] == [email_urgent, email_normal]
        assert [t["id"] for t in calls] == [call_urgent, call_overdue]
        assert emails[0]["phone"] is None
        assert emails[0]["email"] == "visitor@example.ca"

    async def test_claim_next_takes_an_urgent_email_task_before_an_ordinary_call(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        await seed_task(app)
        _, urgent = await seed_task(app, channel=EMAIL, phone=None, topic=Topic.CRISIS)
        response = await client.post(f"{Q}/claim-next", headers=agent.headers)
        assert response.json()["task"]["id"] == urgent

    async def test_an_unknown_channel_is_refused(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        response = await client.get(f"{Q}?channel=fax", headers=agent.headers)
        assert response.status_code == 422
