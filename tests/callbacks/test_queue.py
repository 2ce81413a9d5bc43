"""Working the queue through the API: order, claims and leases, attempts, and every transition."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.models import task_table
from inquiry.callbacks.schedule import calendar_for
from inquiry.models import MAX_ROW_ID, as_utc, outbox_table
from inquiry.triage.taxonomy import Priority, Topic
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    act,
    audit_actions,
    on_inquiry,
    seed_task,
    toronto,
)

Q = "/api/v1/staff/callbacks"


async def claim_next(client: httpx.AsyncClient, user: StaffUser) -> dict[str, Any] | None:
    response = await client.post(f"{Q}/claim-next", headers=user.headers)
    assert response.status_code == 200, response.text
    task: dict[str, Any] | None = response.json()["task"]
    return task


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


class TestQueueOrder:
    async def test_urgent_then_overdue_then_due_time_then_age(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, low_old = await seed_task(app, topic=Topic.GENERAL, at=toronto(2026, 5, 27, 10, 0))
        _, normal_fresh = await seed_task(app, topic=Topic.NEW_PATIENT)
        _, high_fresh = await seed_task(app, topic=Topic.CLINICAL)
        _, normal_overdue = await seed_task(app, topic=Topic.BILLING, at=toronto(2026, 6, 1, 10, 0))
        _, urgent_young = await seed_task(app, topic=Topic.CRISIS, at=toronto(2026, 6, 3, 9, 59))
        _, urgent_old = await seed_task(app, topic=Topic.CRISIS, at=toronto(2026, 6, 3, 9, 0))
        _, same_due_younger = await seed_task(app, topic=Topic.CLINICAL)

        response = await client.get(Q, headers=agent.headers)

        assert response.status_code == 200
        tasks = response.json()["tasks"]
        assert [t["id"] for t in tasks] == [
            urgent_old,
            urgent_young,
            low_old,  # overdue since 29 May
            normal_overdue,  # overdue since 2 June
            high_fresh,  # due 12:00 today
            same_due_younger,  # same due time, created later
            normal_fresh,  # due tomorrow
        ]
        assert [t["overdue"] for t in tasks] == [True, True, True, True, False, False, False]
        assert tasks[0]["on_call"] is True
        assert tasks[0]["priority"] == "urgent"

    async def test_finished_tasks_leave_the_queue_and_can_be_listed_by_status(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, done = await seed_task(app)
        _, waiting = await seed_task(app)
        await act(client, agent, done, "claim")
        await act(client, agent, done, "attempts", outcome="reached")

        queue = (await client.get(Q, headers=agent.headers)).json()["tasks"]
        finished = (await client.get(f"{Q}?status=done", headers=agent.headers)).json()["tasks"]

        assert [t["id"] for t in queue] == [waiting]
        assert [t["id"] for t in finished] == [done]
        assert finished[0]["overdue"] is False

    async def test_mine_lists_my_claims_and_the_tasks_of_inquiries_assigned_to_me(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, agent2: StaffUser
    ) -> None:
        _, mine = await seed_task(app)
        _, theirs = await seed_task(app)
        assigned_inquiry, assigned = await seed_task(app)
        _, nobodys = await seed_task(app)
        await act(client, agent, mine, "claim")
        await act(client, agent2, theirs, "claim")
        answer = await on_inquiry(client, agent, assigned_inquiry, "assign", {"staff_id": agent.id})
        assert answer.status_code == 200, answer.text
        listed = (await client.get(f"{Q}?mine=true", headers=agent.headers)).json()["tasks"]
        assert sorted(t["id"] for t in listed) == sorted([mine, assigned])
        assert nobodys not in [t["id"] for t in listed]


class TestClaim:
    async def test_claim_next_takes_the_first_task_in_queue_order(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        await seed_task(app, topic=Topic.GENERAL)
        _, urgent = await seed_task(app, topic=Topic.CRISIS)

        task = await claim_next(client, agent)

        assert task is not None
        assert task["id"] == urgent
        assert task["status"] == "claimed"
        assert task["claimed_by"] == agent.id
        assert task["claimed_until"] == "2026-06-03T14:15:00Z"  # a 15-minute lease

    async def test_two_staff_never_get_the_same_task(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, agent2: StaffUser
    ) -> None:
        _, first = await seed_task(app)
        _, second = await seed_task(app)
        a = await claim_next(client, agent)
        b = await claim_next(client, agent2)
        assert a is not None
        assert b is not None
        assert {a["id"], b["id"]} == {first, second}

    async def test_an_empty_queue_answers_task_null(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        response = await client.post(f"{Q}/claim-next", headers=agent.headers)
        assert response.status_code == 200
        assert response.json() == {"task": None}

    async def test_a_task_held_by_someone_else_is_a_claim_conflict(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, agent2: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        assert (await act(client, agent, task_id, "claim")).status_code == 200

        for action, body in [
            ("claim", {}),
            ("release", {}),
            ("attempts", {"outcome": "reached"}),
            ("cancel", {"reason": "duplicate"}),
            ("reschedule", {"at": "2026-06-04T15:00:00Z"}),
        ]:
            response = await act(client, agent2, task_id, action, **body)
            assert response.status_code == 409, action
            assert error_code(response) == "claim_conflict"

    async def test_claiming_again_renews_the_lease(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        clock.advance(minutes=10)
        response = await act(client, agent, task_id, "claim")
        assert response.status_code == 200
        assert response.json()["claimed_until"] == "2026-06-03T14:25:00Z"
        assert ("callback.renew", agent.id, str(task_id)) in await audit_actions(app)

    async def test_a_lapsed_lease_returns_the_task_to_the_queue(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        agent2: StaffUser,
        clock: FakeClock,
    ) -> None:
        _, task_id = await seed_task(app)
        await claim_next(client, agent)
        assert await claim_next(client, agent2) is None

        clock.advance(minutes=15, seconds=1)

        listed = (await client.get(Q, headers=agent2.headers)).json()["tasks"]
        assert (listed[0]["status"], listed[0]["claimed_by"]) == ("open", None)
        taken = await claim_next(client, agent2)
        assert taken is not None
        assert (taken["id"], taken["claimed_by"]) == (task_id, agent2.id)
        # The first holder lost it: their attempt is now a conflict.
        late = await act(client, agent, task_id, "attempts", outcome="reached")
        assert error_code(late) == "claim_conflict"

    async def test_a_lapsed_lease_nobody_took_still_lets_the_holder_record(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        clock.advance(minutes=40)  # a long call
        response = await act(client, agent, task_id, "attempts", outcome="reached")
        assert response.status_code == 200
        assert response.json()["status"] == "done"

    async def test_release_returns_the_task(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, agent2: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        released = await act(client, agent, task_id, "release")
        assert released.status_code == 200
        assert (released.json()["status"], released.json()["claimed_by"]) == ("open", None)
        again = await act(client, agent, task_id, "release")
        assert (again.status_code, error_code(again)) == (409, "transition_not_allowed")
        taken = await claim_next(client, agent2)
        assert taken is not None
        assert taken["id"] == task_id

    async def test_unknown_tasks_are_404(self, client: httpx.AsyncClient, agent: StaffUser) -> None:
        assert (await client.get(f"{Q}/999", headers=agent.headers)).status_code == 404
        for action, body in [
            ("claim", {}),
            ("release", {}),
            ("attempts", {"outcome": "busy"}),
            ("reschedule", {"at": "2026-06-04T15:00:00Z"}),
            ("cancel", {"reason": "x"}),
        ]:
            response = await act(client, agent, 999, action, **body)
            assert (response.status_code, error_code(response)) == (404, "not_found"), action


class TestTaskPaths:
    async def test_get_on_claim_next_is_405_allowing_post(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        response = await client.get(f"{Q}/claim-next", headers=agent.headers)
        assert (response.status_code, error_code(response)) == (405, "method_not_allowed")
        assert "POST" in response.headers["allow"]

    async def test_a_task_id_that_is_not_a_number_is_404(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        for path in ("abc", "-1", "1.5"):
            response = await client.get(f"{Q}/{path}", headers=agent.headers)
            assert (response.status_code, error_code(response)) == (404, "not_found"), path
        response = await client.post(f"{Q}/abc/claim", headers=agent.headers)
        assert (response.status_code, error_code(response)) == (404, "not_found")

    async def test_a_number_past_the_row_ids_is_still_422(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        for task_id in (0, MAX_ROW_ID + 1):
            response = await client.get(f"{Q}/{task_id}", headers=agent.headers)
            assert response.status_code == 422, task_id


class TestAttempts:
    async def test_reached_and_declined_close_the_task_as_done(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        for outcome in ("reached", "declined"):
            _, task_id = await seed_task(app)
            await act(client, agent, task_id, "claim")
            response = await act(
                client, agent, task_id, "attempts", outcome=outcome, note="Booked a consult."
            )
            body = response.json()
            assert response.status_code == 200
            assert (body["status"], body["attempts"], body["close_reason"]) == (
                "done",
                1,
                outcome,
            )
            assert body["closed_at"] == "2026-06-03T14:00:00Z"
            assert body["history"][0]["note"] == "Booked a consult."

    async def test_no_answer_schedules_the_next_try_inside_the_visitors_window(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, task_id = await seed_task(app, window="afternoon")
        await act(client, agent, task_id, "claim")

        response = await act(client, agent, task_id, "attempts", outcome="no_answer")

        body = response.json()
        assert (body["status"], body["attempts"], body["claimed_by"]) == ("open", 1, None)
        # Wednesday 10:00 + 2 business hours = 12:00, the start of the afternoon window.
        assert body["next_attempt_at"] == "2026-06-03T16:00:00Z"
        assert body["due_at"] == body["next_attempt_at"]
        assert await claim_next(client, agent) is None  # not before its time
        clock.advance(hours=2)
        again = await claim_next(client, agent)
        assert again is not None
        assert again["id"] == task_id

    async def test_the_first_attempt_and_the_first_due_time_stay_as_the_task_moves(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        agent: StaffUser,
        clock: FakeClock,
    ) -> None:
        _, task_id = await seed_task(app, window="afternoon")
        first_call = clock.now
        for _ in range(2):
            await act(client, agent, task_id, "claim")
            response = await act(client, agent, task_id, "attempts", outcome="no_answer")
            assert response.status_code == 200, response.text
            clock.advance(hours=3)
        async with engine.connect() as connection:
            row = (
                await connection.execute(sa.select(task_table).where(task_table.c.id == task_id))
            ).one()
        made_at = first_call
        assert as_utc(row.first_due_at) == calendar_for(app.state.settings).due_at(
            Priority.NORMAL, made_at
        )
        assert as_utc(row.due_at) != as_utc(row.first_due_at)  # the retry moved due_at
        assert as_utc(row.first_attempt_at) == first_call
        assert row.attempts == 2

    async def test_after_the_maximum_misses_the_task_is_unreachable_and_the_visitor_emailed(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        clock: FakeClock,
        engine: AsyncEngine,
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        for outcome in ("no_answer", "busy", "voicemail"):
            await act(client, agent, task_id, "claim")
            response = await act(client, agent, task_id, "attempts", outcome=outcome)
            clock.advance(days=1)
        body = response.json()
        assert (body["status"], body["attempts"], body["close_reason"]) == (
            "unreachable",
            3,
            "voicemail",
        )
        assert [h["outcome"] for h in body["history"]] == ["no_answer", "busy", "voicemail"]
        async with engine.connect() as connection:
            owed = (
                await connection.execute(
                    sa.select(outbox_table).where(outbox_table.c.inquiry_id == inquiry_id)
                )
            ).all()
        assert [(m.kind, m.recipient, m.status) for m in owed] == [
            ("visitor_unreachable", "visitor@example.ca", "pending")
        ]
        assert owed[0].message_id.startswith("<INQ-T")
        assert owed[0].message_id.endswith(".visitor_unreachable@ketaminetherapyclinic.ca>")
        assert owed[0].urgent is False  # an ordinary inquiry: after any backlog of crisis mail

    async def test_staff_changes_wake_the_mail_worker(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        class Worker:
            woken = 0

            def notify(self) -> None:
                self.woken += 1

        worker = Worker()
        app.state.outbox_worker = worker  # as `inquiry serve` has it
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        await act(client, agent, task_id, "attempts", outcome="wrong_number")
        # Each committed staff request wakes it: an unreachable email goes out at once.
        assert worker.woken >= 2

    async def test_wrong_number_is_unreachable_at_once_and_without_email_nothing_is_sent(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, engine: AsyncEngine
    ) -> None:
        _, task_id = await seed_task(app, email=None)
        await act(client, agent, task_id, "claim")
        response = await act(client, agent, task_id, "attempts", outcome="wrong_number")
        assert (response.json()["status"], response.json()["attempts"]) == ("unreachable", 1)
        async with engine.connect() as connection:
            count = await connection.scalar(sa.select(sa.func.count()).select_from(outbox_table))
        assert count == 0

    async def test_a_wrong_number_on_a_crisis_sends_no_automatic_email_and_opens_an_email_task(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, engine: AsyncEngine
    ) -> None:
        inquiry_id, task_id = await seed_task(app, topic=Topic.CRISIS)
        await act(client, agent, task_id, "claim")
        response = await act(client, agent, task_id, "attempts", outcome="wrong_number")
        assert response.json()["status"] == "unreachable"
        async with engine.connect() as connection:
            kinds = list(
                await connection.scalars(
                    sa.select(outbox_table.c.kind).where(outbox_table.c.inquiry_id == inquiry_id)
                )
            )
        assert kinds == []
        [follow_up] = (await client.get(f"{Q}?channel=email", headers=agent.headers)).json()[
            "tasks"
        ]
        assert (follow_up["inquiry_id"], follow_up["priority"]) == (inquiry_id, "urgent")
        assert (follow_up["email"], follow_up["phone"]) == ("visitor@example.ca", "+14165550199")

    async def test_voicemail_needs_the_visitors_consent(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, task_id = await seed_task(app, voicemail_ok=False)
        await act(client, agent, task_id, "claim")
        response = await act(client, agent, task_id, "attempts", outcome="voicemail")
        assert (response.status_code, error_code(response)) == (409, "transition_not_allowed")

    async def test_an_urgent_retry_is_not_held_to_business_hours(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        clock.now = toronto(2026, 6, 6, 22, 0)  # Saturday night
        _, task_id = await seed_task(app, topic=Topic.CRISIS)
        await act(client, agent, task_id, "claim")
        response = await act(client, agent, task_id, "attempts", outcome="no_answer")
        # INQUIRY_CALLBACK_RETRY_URGENT_MINUTES later, at any hour; still due when it was.
        assert response.json()["next_attempt_at"] == "2026-06-07T02:15:00Z"
        assert response.json()["due_at"] == "2026-06-07T02:00:00Z"

    async def test_an_attempt_needs_a_claim_and_an_open_task(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        unclaimed = await act(client, agent, task_id, "attempts", outcome="reached")
        assert (unclaimed.status_code, error_code(unclaimed)) == (409, "transition_not_allowed")
        await act(client, agent, task_id, "claim")
        await act(client, agent, task_id, "attempts", outcome="reached")
        for action, body in [
            ("claim", {}),
            ("release", {}),
            ("attempts", {"outcome": "reached"}),
            ("reschedule", {"at": "2026-06-04T15:00:00Z"}),
            ("cancel", {"reason": "x"}),
        ]:
            response = await act(client, agent, task_id, action, **body)
            assert (response.status_code, error_code(response)) == (
                409,
                "transition_not_allowed",
            ), action

    async def test_an_unknown_outcome_is_422(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        response = await act(client, agent, task_id, "attempts", outcome="hung_up")
        assert response.status_code == 422


class TestRescheduleCancelReassign:
    async def test_reschedule_puts_the_task_back_due_at_the_chosen_time(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        response = await act(client, agent, task_id, "reschedule", at="2026-06-05T18:30:00Z")
        body = response.json()
        assert response.status_code == 200
        assert (body["status"], body["claimed_by"]) == ("open", None)
        assert body["due_at"] == body["next_attempt_at"] == "2026-06-05T18:30:00Z"
        assert await claim_next(client, agent) is None

    async def test_reschedule_into_the_past_or_without_zone_is_refused(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        past = await act(client, agent, task_id, "reschedule", at="2026-06-03T13:00:00Z")
        assert (past.status_code, error_code(past)) == (422, "invalid_schedule")
        naive = await act(client, agent, task_id, "reschedule", at="2026-06-05T10:00:00")
        assert naive.status_code == 422

    async def test_cancel_needs_a_reason_and_closes_the_task(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        assert (await act(client, agent, task_id, "cancel", reason="")).status_code == 422
        response = await act(client, agent, task_id, "cancel", reason="Visitor emailed instead")
        assert (response.json()["status"], response.json()["close_reason"]) == (
            "cancelled",
            "Visitor emailed instead",
        )

    async def test_an_admin_reassigns_a_task(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        agent2: StaffUser,
        admin: StaffUser,
    ) -> None:
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        response = await act(client, admin, task_id, "reassign", staff_id=agent2.id)
        assert response.status_code == 200
        assert response.json()["claimed_by"] == agent2.id
        assert (await act(client, agent2, task_id, "release")).status_code == 200
        forbidden = await act(client, agent, task_id, "reassign", staff_id=agent.id)
        assert (forbidden.status_code, error_code(forbidden)) == (403, "forbidden")
        nobody = await act(client, admin, task_id, "reassign", staff_id=999)
        assert nobody.status_code == 404

    async def test_every_change_is_audited_with_who_and_what(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        await client.get(Q, headers=agent.headers)
        await act(client, agent, task_id, "claim")
        await client.get(f"{Q}/{task_id}", headers=agent.headers)
        await act(client, agent, task_id, "attempts", outcome="busy", note="Line busy")
        await act(client, agent, task_id, "reschedule", at="2026-06-04T15:00:00Z")
        await act(client, agent, task_id, "cancel", reason="Visitor asked us to stop")
        target = str(task_id)
        assert [a for a in await audit_actions(app) if a[0].startswith("callback.")] == [
            ("callback.list", agent.id, None),
            ("callback.claim", agent.id, target),
            ("callback.read", agent.id, target),
            ("callback.attempt", agent.id, target),
            ("callback.reschedule", agent.id, target),
            ("callback.cancel", agent.id, target),
        ]
