"""Crises are never dropped: urgent pacing, a decision instead of giving up, attempts that
count only when spaced, and reasons (and an admin) to put a call off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import Settings
from inquiry.models import outbox_table
from inquiry.triage.taxonomy import Topic
from tests.conftest import make_settings
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    act,
    inquiry_detail,
    on_inquiry,
    seed_task,
    toronto,
)

Q = "/api/v1/staff/callbacks"
ONCALL = "oncall@ketaminetherapyclinic.ca"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, oncall_emails=[ONCALL])


async def attempt(
    client: httpx.AsyncClient, user: StaffUser, task_id: int, outcome: str = "no_answer"
) -> dict[str, Any]:
    claimed = await act(client, user, task_id, "claim")
    assert claimed.status_code == 200, claimed.text
    response = await act(client, user, task_id, "attempts", outcome=outcome)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def mail_of(engine: AsyncEngine, inquiry_id: int) -> list[tuple[str, str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(outbox_table.c.kind, outbox_table.c.recipient, outbox_table.c.message_id)
            .where(outbox_table.c.inquiry_id == inquiry_id)
            .order_by(outbox_table.c.id)
        )
        return [(row.kind, row.recipient, row.message_id) for row in rows]


async def queue_ids(client: httpx.AsyncClient, user: StaffUser) -> list[int]:
    response = await client.get(Q, headers=user.headers)
    return [task["id"] for task in response.json()["tasks"]]


async def out_of_attempts(
    client: httpx.AsyncClient, user: StaffUser, clock: FakeClock, task_id: int
) -> dict[str, Any]:
    """Five missed urgent calls, each a full retry interval after the last."""
    for _ in range(4):
        body = await attempt(client, user, task_id)
        assert body["status"] == "open"
        clock.advance(minutes=15)
    return await attempt(client, user, task_id)


class TestUrgentPacing:
    async def test_an_urgent_miss_is_retried_in_minutes_and_stays_overdue(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, task_id = await seed_task(app, topic=Topic.CRISIS)
        clock.advance(minutes=5)
        body = await attempt(client, agent, task_id)
        assert body["next_attempt_at"] == "2026-06-03T14:20:00Z"  # 15 minutes on
        assert body["due_at"] == "2026-06-03T14:00:00Z"  # still due when it came
        assert body["overdue"] is True
        assert (body["counted_attempts"], body["attempt_limit"]) == (1, 5)

    async def test_after_its_last_attempt_it_awaits_a_decision_at_the_top_of_the_queue(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        clock: FakeClock,
        engine: AsyncEngine,
    ) -> None:
        inquiry_id, task_id = await seed_task(app, topic=Topic.CRISIS)
        body = await out_of_attempts(client, agent, clock, task_id)
        _, ordinary = await seed_task(app, topic=Topic.BILLING, at=toronto(2026, 5, 1, 10))

        assert (body["status"], body["counted_attempts"], body["closed_at"]) == (
            "awaiting_decision",
            5,
            None,
        )
        assert body["overdue"] is True
        assert await queue_ids(client, agent) == [task_id, ordinary]
        next_call = await client.post(f"{Q}/claim-next", headers=agent.headers)
        assert next_call.json()["task"]["id"] == ordinary
        # On call is told once; the visitor gets no "we tried to call you".
        assert [(kind, to) for kind, to, _ in await mail_of(engine, inquiry_id)] == [
            ("callback_decision", ONCALL)
        ]
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert detail["status"] == "in_progress"
        clock.advance(days=30)
        assert await queue_ids(client, agent) == [task_id, ordinary]  # never given up on its own

    @pytest.mark.parametrize(
        ("action", "body"),
        [
            ("claim", {}),
            ("attempts", {"outcome": "no_answer"}),
            ("reschedule", {"at": "2026-06-03T18:00:00Z", "reason": "Later"}),
            ("cancel", {"reason": "Enough"}),
        ],
    )
    async def test_staff_cannot_work_it_until_an_admin_decides(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        clock: FakeClock,
        action: str,
        body: dict[str, Any],
    ) -> None:
        _, task_id = await seed_task(app, topic=Topic.CRISIS)
        await out_of_attempts(client, agent, clock, task_id)
        response = await act(client, agent, task_id, action, **body)
        assert (response.status_code, response.json()["error"]["code"]) == (
            409,
            "transition_not_allowed",
        )


class TestTheAdminsDecision:
    async def test_an_admin_closes_it_with_a_reason(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        admin: StaffUser,
        clock: FakeClock,
        engine: AsyncEngine,
    ) -> None:
        inquiry_id, task_id = await seed_task(app, topic=Topic.CRISIS)
        await out_of_attempts(client, agent, clock, task_id)
        reason = "Family confirmed she is safe and in hospital care."
        response = await act(client, admin, task_id, "decision", decision="close", reason=reason)
        body = response.json()
        assert (body["status"], body["close_reason"]) == ("unreachable", reason)
        detail = await inquiry_detail(client, admin, inquiry_id)
        assert (detail["status"], detail["close_reason"]) == ("closed", "unreachable")
        assert [kind for kind, _, _ in await mail_of(engine, inquiry_id)] == ["callback_decision"]

    async def test_an_admin_allows_more_attempts(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        admin: StaffUser,
        clock: FakeClock,
        engine: AsyncEngine,
    ) -> None:
        inquiry_id, task_id = await seed_task(app, topic=Topic.CRISIS)
        await out_of_attempts(client, agent, clock, task_id)
        response = await act(client, admin, task_id, "decision", decision="more_attempts")
        body = response.json()
        assert (body["status"], body["attempt_limit"], body["due_at"]) == (
            "open",
            6,
            "2026-06-03T14:00:00Z",
        )
        next_call = await client.post(f"{Q}/claim-next", headers=agent.headers)
        assert next_call.json()["task"]["id"] == task_id
        await act(client, agent, task_id, "release")
        clock.advance(minutes=15)
        again = await attempt(client, agent, task_id)
        assert again["status"] == "awaiting_decision"
        ids = [message_id for _, _, message_id in await mail_of(engine, inquiry_id)]
        assert [i.split("@")[0].split(".", 1)[1] for i in ids] == [
            "callback_decision",
            "callback_decision.2",
        ]

    async def test_closing_needs_a_reason_an_admin_and_a_task_awaiting_a_decision(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        admin: StaffUser,
        clock: FakeClock,
    ) -> None:
        _, task_id = await seed_task(app, topic=Topic.CRISIS)
        not_yet = await act(client, admin, task_id, "decision", decision="close", reason="x")
        assert (not_yet.status_code, not_yet.json()["error"]["code"]) == (
            409,
            "transition_not_allowed",
        )
        await out_of_attempts(client, agent, clock, task_id)
        by_agent = await act(client, agent, task_id, "decision", decision="close", reason="x")
        no_reason = await act(client, admin, task_id, "decision", decision="close")
        assert by_agent.status_code == 403
        assert (no_reason.status_code, no_reason.json()["error"]["code"]) == (
            422,
            "reason_required",
        )
        read = await client.get(f"{Q}/{task_id}", headers=admin.headers)
        assert read.json()["status"] == "awaiting_decision"


class TestOnlySpacedAttemptsCount:
    async def test_three_misses_in_a_second_are_one_counted_attempt(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        clock: FakeClock,
        engine: AsyncEngine,
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        for _ in range(3):
            body = await attempt(client, agent, task_id)
            clock.advance(seconds=0.3)
        assert (body["status"], body["attempts"], body["counted_attempts"]) == ("open", 3, 1)
        assert [h["counted"] for h in body["history"]] == [True, False, False]
        assert await mail_of(engine, inquiry_id) == []

    async def test_a_call_counts_again_once_the_retry_hours_have_passed_in_business_time(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, task_id = await seed_task(app)
        await attempt(client, agent, task_id)  # Wednesday 10:00
        clock.advance(hours=1, minutes=59)
        early = await attempt(client, agent, task_id)
        clock.advance(minutes=1)
        spaced = await attempt(client, agent, task_id)
        assert [h["counted"] for h in spaced["history"]] == [True, False, True]
        assert early["history"][-1]["counted"] is False
        assert spaced["counted_attempts"] == 2

    async def test_an_urgent_call_counts_after_its_own_interval(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, task_id = await seed_task(app, topic=Topic.CRISIS)
        await attempt(client, agent, task_id)
        clock.advance(minutes=14)
        await attempt(client, agent, task_id)
        clock.advance(minutes=1)
        body = await attempt(client, agent, task_id)
        assert [h["counted"] for h in body["history"]] == [True, False, True]

    async def test_the_visitor_is_emailed_only_when_the_task_really_ends_unreachable(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        clock: FakeClock,
        engine: AsyncEngine,
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        for _ in range(2):
            await attempt(client, agent, task_id)
            clock.advance(days=1)
        assert await mail_of(engine, inquiry_id) == []
        body = await attempt(client, agent, task_id)
        assert body["status"] == "unreachable"
        assert [kind for kind, _, _ in await mail_of(engine, inquiry_id)] == ["visitor_unreachable"]


class TestReschedule:
    @pytest.mark.parametrize("topic", [Topic.CRISIS, Topic.CLINICAL])
    async def test_an_urgent_or_high_call_needs_a_reason(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, topic: Topic
    ) -> None:
        _, task_id = await seed_task(app, topic=topic)
        at = "2026-06-03T18:00:00Z"
        refused = await act(client, agent, task_id, "reschedule", at=at)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "reason_required")
        read = await client.get(f"{Q}/{task_id}", headers=agent.headers)
        assert read.json()["next_attempt_at"] == "2026-06-03T14:00:00Z"  # nothing changed
        done = await act(client, agent, task_id, "reschedule", at=at, reason="Asked for 2 pm")
        assert (done.status_code, done.json()["reschedule_reason"]) == (200, "Asked for 2 pm")
        assert done.json()["next_attempt_at"] == at

    async def test_an_ordinary_call_needs_none(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        response = await act(client, agent, task_id, "reschedule", at="2026-06-04T18:00:00Z")
        assert (response.status_code, response.json()["due_at"]) == (200, "2026-06-04T18:00:00Z")

    async def test_an_urgent_call_beyond_the_next_business_day_needs_an_admin(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        admin: StaffUser,
        clock: FakeClock,
    ) -> None:
        clock.now = toronto(2026, 6, 5, 11)  # a Friday: the next business day is Monday
        _, task_id = await seed_task(app, topic=Topic.CRISIS)
        monday_close = toronto(2026, 6, 8, 17).isoformat()
        monday_late = toronto(2026, 6, 8, 17, 1).isoformat()

        later = await act(client, agent, task_id, "reschedule", at=monday_late, reason="x")
        assert (later.status_code, later.json()["error"]["code"]) == (403, "forbidden")
        allowed = await act(client, agent, task_id, "reschedule", at=monday_close, reason="x")
        assert allowed.status_code == 200
        assert allowed.json()["due_at"] == toronto(2026, 6, 5, 11).isoformat().replace(
            "+00:00", "Z"
        )  # still due, and overdue, from when it came
        by_admin = await act(client, admin, task_id, "reschedule", at=monday_late, reason="x")
        assert by_admin.status_code == 200


class TestTheInquiryOfACallAwaitingADecision:
    @pytest.mark.parametrize(
        "body",
        [
            {"status": "closed", "reason": "no_action_needed"},
            {"status": "waiting", "until": "2026-06-10"},
        ],
    )
    async def test_only_an_admin_closes_it_or_puts_it_off(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        admin: StaffUser,
        clock: FakeClock,
        body: dict[str, Any],
    ) -> None:
        inquiry_id, task_id = await seed_task(app, topic=Topic.CRISIS)
        await out_of_attempts(client, agent, clock, task_id)
        by_agent = await on_inquiry(client, agent, inquiry_id, "status", body)
        assert (by_agent.status_code, by_agent.json()["error"]["code"]) == (403, "forbidden")
        read = await client.get(f"{Q}/{task_id}", headers=agent.headers)
        assert read.json()["status"] == "awaiting_decision"
        by_admin = await on_inquiry(client, admin, inquiry_id, "status", body)
        assert by_admin.status_code == 200, by_admin.text
