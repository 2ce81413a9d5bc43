"""The inquiry follows its callback task, and the task its inquiry, on both databases."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.callbacks.models import task_table
from inquiry.models import audit_table
from inquiry.triage.taxonomy import Topic
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    act,
    inquiry_detail,
    on_inquiry,
    seed_task,
    sessions,
    toronto,
)

Q = "/api/v1/staff/callbacks"


def moves(detail: dict[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    """(from, to, close reason, cause) of each move in the inquiry's history."""
    return [
        (c["from_status"], c["to_status"], c["close_reason"], c["cause"]) for c in detail["history"]
    ]


async def audit_detail(app: FastAPI, action: str) -> list[Any]:
    async with sessions(app)() as session:
        rows = await session.scalars(
            sa.select(audit_table.c.detail)
            .where(audit_table.c.action == action)
            .order_by(audit_table.c.id)
        )
        return [json.loads(row) for row in rows]


async def claimed(
    app: FastAPI, client: httpx.AsyncClient, user: StaffUser, **seed: Any
) -> tuple[int, int]:
    inquiry_id, task_id = await seed_task(app, **seed)
    response = await act(client, user, task_id, "claim")
    assert response.status_code == 200, response.text
    return inquiry_id, task_id


class TestWorkStarts:
    @pytest.mark.parametrize("how", ["claim", "claim-next"])
    async def test_the_first_claim_puts_a_new_inquiry_in_progress_once(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, how: str
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        if how == "claim":
            await act(client, agent, task_id, "claim")
        else:
            await client.post(f"{Q}/claim-next", headers=agent.headers)
        await act(client, agent, task_id, "release")
        await act(client, agent, task_id, "claim")

        detail = await inquiry_detail(client, agent, inquiry_id)
        assert detail["status"] == "in_progress"
        assert moves(detail) == [("new", "in_progress", None, "callback claimed")]
        assert detail["history"][0]["staff_id"] == agent.id
        # One action, one audit entry: the claim's carries the move it caused.
        first = (await audit_detail(app, f"callback.{how.replace('-', '_')}"))[0]
        second = (await audit_detail(app, "callback.claim"))[-1]
        assert first["inquiry"] == {
            "from": "new",
            "to": "in_progress",
            "cause": "callback claimed",
            "note": False,
        }
        assert "inquiry" not in second

    async def test_rescheduling_or_an_admin_reassigning_counts_as_acting(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        first, first_task = await seed_task(app)
        second, second_task = await seed_task(app)
        await act(client, agent, first_task, "reschedule", at="2026-06-05T15:00:00Z")
        await act(client, admin, second_task, "reassign", staff_id=agent.id)
        assert moves(await inquiry_detail(client, agent, first)) == [
            ("new", "in_progress", None, "callback rescheduled")
        ]
        assert moves(await inquiry_detail(client, agent, second)) == [
            ("new", "in_progress", None, "callback reassigned")
        ]


class TestOutcomes:
    @pytest.mark.parametrize("outcome", ["reached", "declined"])
    async def test_a_reached_or_declined_call_closes_the_inquiry_as_resolved(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, outcome: str
    ) -> None:
        inquiry_id, task_id = await claimed(app, client, agent)
        await act(client, agent, task_id, "attempts", outcome=outcome)
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert (detail["status"], detail["close_reason"]) == ("closed", "resolved")
        assert moves(detail)[-1] == (
            "in_progress",
            "closed",
            "resolved",
            f"callback attempt: {outcome}",
        )
        [attempt] = await audit_detail(app, "callback.attempt")
        assert attempt["inquiry"]["to"] == "closed"

    @pytest.mark.parametrize("outcome", ["reached", "declined"])
    async def test_the_agent_keeps_it_open(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, outcome: str
    ) -> None:
        inquiry_id, task_id = await claimed(app, client, agent)
        response = await act(client, agent, task_id, "attempts", outcome=outcome, keep_open=True)
        assert response.json()["status"] == "done"
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert detail["status"] == "in_progress"
        assert moves(detail) == [("new", "in_progress", None, "callback claimed")]

    async def test_a_wrong_number_leaves_it_open_while_an_email_address_is_left(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        with_email, task = await claimed(app, client, agent)
        without_email, other_task = await claimed(app, client, agent, email=None)
        await act(client, agent, task, "attempts", outcome="wrong_number")
        await act(client, agent, other_task, "attempts", outcome="wrong_number")

        kept = await inquiry_detail(client, agent, with_email)
        closed = await inquiry_detail(client, agent, without_email)
        # The address left to try is worked as an email task.
        assert (kept["status"], kept["callback_status"]) == ("in_progress", "open")
        assert (closed["status"], closed["close_reason"]) == ("closed", "unreachable")
        assert moves(closed)[-1][3] == "callback attempt: wrong_number"

    async def test_a_visitor_given_up_on_closes_it_as_unreachable_unless_kept_open(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        given_up, task = await seed_task(app)
        kept, other_task = await seed_task(app)
        for outcome in ("no_answer", "busy", "voicemail"):
            for task_id in (task, other_task):
                await act(client, agent, task_id, "claim")
                await act(
                    client,
                    agent,
                    task_id,
                    "attempts",
                    outcome=outcome,
                    keep_open=task_id == other_task,
                )
            if outcome != "voicemail":
                middle = await inquiry_detail(client, agent, given_up)
                assert middle["status"] == "in_progress"  # a retry is still to come
            clock.advance(days=1)

        closed = await inquiry_detail(client, agent, given_up)
        assert (closed["status"], closed["close_reason"]) == ("closed", "unreachable")
        assert (await inquiry_detail(client, agent, kept))["status"] == "in_progress"

    async def test_a_cancelled_call_leaves_it_in_progress_with_the_reason(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        await act(client, agent, task_id, "cancel", reason="Visitor emailed instead")
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert (detail["status"], detail["callback_status"]) == ("in_progress", "cancelled")
        [change] = detail["history"]
        assert (change["cause"], change["note"]) == (
            "callback cancelled",
            "Visitor emailed instead",
        )
        [cancel] = await audit_detail(app, "callback.cancel")
        assert "Visitor emailed" not in str(cancel)  # free text stays out of the audit log

    async def test_a_call_on_a_waiting_inquiry_closes_it_too(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        await on_inquiry(
            client, agent, inquiry_id, "status", {"status": "waiting", "until": "2026-06-08"}
        )
        await act(client, agent, task_id, "claim")
        await act(client, agent, task_id, "attempts", outcome="reached")
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert moves(detail)[-1][:3] == ("waiting", "closed", "resolved")


class TestTheTaskFollows:
    async def test_waiting_puts_the_call_off_and_the_date_brings_both_back(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        inquiry_id, task_id = await claimed(app, client, agent)
        response = await on_inquiry(
            client,
            agent,
            inquiry_id,
            "status",
            {"status": "waiting", "until": "2026-06-08", "note": "Sending her referral"},
        )
        assert response.json()["waiting_until"] == "2026-06-08T13:00:00Z"
        task = (await client.get(f"{Q}/{task_id}", headers=agent.headers)).json()
        assert (task["status"], task["claimed_by"]) == ("open", None)
        assert task["due_at"] == task["next_attempt_at"] == "2026-06-08T13:00:00Z"
        assert (await client.post(f"{Q}/claim-next", headers=agent.headers)).json() == {
            "task": None
        }
        listed = await client.get("/api/v1/staff/inquiries?status=waiting", headers=agent.headers)
        assert [i["id"] for i in listed.json()["inquiries"]] == [inquiry_id]

        clock.now = toronto(2026, 6, 8, 9, 0)

        listed = await client.get(
            "/api/v1/staff/inquiries?status=in_progress", headers=agent.headers
        )
        assert [i["id"] for i in listed.json()["inquiries"]] == [inquiry_id]
        detail = await inquiry_detail(client, agent, inquiry_id)
        back = detail["history"][-1]
        assert (back["from_status"], back["to_status"], back["cause"]) == (
            "waiting",
            "in_progress",
            "waiting date reached",
        )
        assert (back["staff_id"], back["author"]) == (None, None)  # nobody: its date came
        again = (await client.post(f"{Q}/claim-next", headers=agent.headers)).json()["task"]
        assert again["id"] == task_id

    async def test_a_wait_that_is_over_ends_before_anything_else_is_done(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        await on_inquiry(
            client, agent, inquiry_id, "status", {"status": "waiting", "until": "2026-06-04"}
        )
        clock.advance(days=2)
        await on_inquiry(
            client, agent, inquiry_id, "status", {"status": "closed", "reason": "resolved"}
        )
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert [c["to_status"] for c in detail["history"]] == ["waiting", "in_progress", "closed"]

    async def test_taking_up_a_waiting_inquiry_makes_its_call_due_now(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        await on_inquiry(
            client, agent, inquiry_id, "status", {"status": "waiting", "until": "2026-06-08"}
        )
        await on_inquiry(client, agent, inquiry_id, "status", {"status": "in_progress"})
        task = (await client.get(f"{Q}/{task_id}", headers=agent.headers)).json()
        assert task["next_attempt_at"] == "2026-06-03T14:00:00Z"
        claim = (await client.post(f"{Q}/claim-next", headers=agent.headers)).json()["task"]
        assert claim["id"] == task_id

    async def test_closing_cancels_the_call_even_one_held_and_reopening_opens_it(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        agent2: StaffUser,
        clock: FakeClock,
    ) -> None:
        inquiry_id, task_id = await claimed(app, client, agent)
        response = await on_inquiry(
            client, agent2, inquiry_id, "status", {"status": "closed", "reason": "duplicate"}
        )
        assert response.status_code == 200, response.text
        async with sessions(app)() as session:
            task = (
                await session.execute(sa.select(task_table).where(task_table.c.id == task_id))
            ).one()
        assert (task.status, task.close_reason, task.claimed_by) == (
            "cancelled",
            "inquiry closed: duplicate",
            None,
        )
        clock.advance(hours=1)
        await on_inquiry(client, agent2, inquiry_id, "status", {"status": "in_progress"})
        reopened = (await client.get(f"{Q}/{task_id}", headers=agent.headers)).json()
        assert (reopened["status"], reopened["closed_at"], reopened["close_reason"]) == (
            "open",
            None,
            None,
        )
        assert reopened["next_attempt_at"] == "2026-06-03T15:00:00Z"

    async def test_a_call_cancelled_for_its_own_sake_stays_cancelled_on_reopening(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        await act(client, agent, task_id, "cancel", reason="Visitor asked us not to call")
        await on_inquiry(
            client, agent, inquiry_id, "status", {"status": "closed", "reason": "resolved"}
        )
        await on_inquiry(client, agent, inquiry_id, "status", {"status": "in_progress"})
        task = (await client.get(f"{Q}/{task_id}", headers=agent.headers)).json()
        assert (task["status"], task["close_reason"]) == (
            "cancelled",
            "Visitor asked us not to call",
        )

    async def test_an_override_to_spam_closes_the_inquiry_as_spam(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app, topic=Topic.GENERAL)
        await on_inquiry(
            client, agent, inquiry_id, "triage", {"topic": "spam", "reason": "Advertising"}
        )
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert (detail["status"], detail["close_reason"]) == ("closed", "spam")
        assert moves(detail) == [("new", "closed", "spam", "triage override: spam")]
        [override] = await audit_detail(app, "inquiry.triage_override")
        assert override["inquiry"]["reason"] == "spam"

    async def test_a_closed_inquiry_owes_no_new_call_when_its_triage_changes(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        response = await client.post(
            "/api/v1/inquiries",
            json={
                "name": "Sam Lee",
                "email": "sam@example.ca",
                "phone": "416-555-0123",
                "message": "Question about parking at the clinic.",
                "consent": True,
            },
        )
        reference = response.json()["reference"]
        await on_inquiry(
            client, agent, reference, "status", {"status": "closed", "reason": "resolved"}
        )
        await on_inquiry(
            client, agent, reference, "triage", {"topic": "clinical", "reason": "Medication"}
        )
        assert (await inquiry_detail(client, agent, reference))["callback_task_id"] is None
