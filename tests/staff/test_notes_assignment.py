"""Internal notes on an inquiry, and assigning it to one staff member or none."""

from __future__ import annotations

import csv
import io

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.models import StaffRole, audit_table, outbox_table
from tests.conftest import valid_inquiry
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    audit_actions,
    inquiry_detail,
    make_staff,
    on_inquiry,
    seed_task,
    sessions,
)

S = "/api/v1/staff"


class TestNotes:
    async def test_notes_are_shown_in_order_with_author_and_time(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        agent2: StaffUser,
        clock: FakeClock,
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        first = await on_inquiry(client, agent, inquiry_id, "notes", {"text": "  Left a message. "})
        clock.advance(minutes=5)
        await on_inquiry(client, agent2, inquiry_id, "notes", {"text": "Called back: booked."})

        assert first.status_code == 201, first.text
        assert first.json() == {
            "id": first.json()["id"],
            "at": "2026-06-03T14:00:00Z",
            "staff_id": agent.id,
            "author": "agent@ketaminetherapyclinic.ca",
            "text": "Left a message.",
        }
        notes = (await inquiry_detail(client, agent, inquiry_id))["notes"]
        assert [(n["author"], n["at"], n["text"]) for n in notes] == [
            ("agent@ketaminetherapyclinic.ca", "2026-06-03T14:00:00Z", "Left a message."),
            ("agent2@ketaminetherapyclinic.ca", "2026-06-03T14:05:00Z", "Called back: booked."),
        ]

    async def test_the_first_note_puts_a_new_inquiry_in_progress(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        await on_inquiry(client, agent, inquiry_id, "notes", {"text": "Looking into it."})
        await on_inquiry(client, agent, inquiry_id, "notes", {"text": "Still looking."})
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert detail["status"] == "in_progress"
        assert [(c["to_status"], c["cause"]) for c in detail["history"]] == [
            ("in_progress", "note added")
        ]

    async def test_a_note_is_never_sent_exported_or_audited_as_text(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        await client.post("/api/v1/inquiries", json=valid_inquiry())
        reference = (await client.get(f"{S}/inquiries", headers=admin.headers)).json()["inquiries"][
            0
        ]["reference"]
        secret = "Discussed her lithium dose"
        await on_inquiry(client, admin, reference, "notes", {"text": secret})
        export = await client.get(f"{S}/exports/inquiries.csv", headers=admin.headers)
        assert secret not in export.text
        assert "notes" not in next(csv.reader(io.StringIO(export.text)))
        async with sessions(app)() as session:
            details = list(await session.scalars(sa.select(audit_table.c.detail)))
            mail = list(await session.scalars(sa.select(outbox_table.c.recipient)))
        assert not any(secret in detail for detail in details)
        assert mail == ["admin@ketaminetherapyclinic.ca", "marie@example.ca"]  # intake's only

    async def test_an_empty_or_overlong_note_is_422_and_an_unknown_inquiry_404(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        for text in ("   ", "x" * 5001):
            response = await on_inquiry(client, agent, inquiry_id, "notes", {"text": text})
            assert response.status_code == 422
        missing = await on_inquiry(client, agent, "INQ-ZZZZZZ", "notes", {"text": "Hello"})
        assert missing.status_code == 404


class TestAssignment:
    async def test_an_admin_assigns_anyone_and_unassigns(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        agent2: StaffUser,
        admin: StaffUser,
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        to_agent = await on_inquiry(client, admin, inquiry_id, "assign", {"staff_id": agent.id})
        assert to_agent.status_code == 200, to_agent.text
        assert (to_agent.json()["assignee_id"], to_agent.json()["assignee"]) == (
            agent.id,
            "agent@ketaminetherapyclinic.ca",
        )
        to_other = await on_inquiry(client, admin, inquiry_id, "assign", {"staff_id": agent2.id})
        assert to_other.json()["assignee_id"] == agent2.id
        nobody = await on_inquiry(client, admin, inquiry_id, "assign", {"staff_id": None})
        assert (nobody.json()["assignee_id"], nobody.json()["assignee"]) == (None, None)
        assigns = [a for a in await audit_actions(app) if a[0] == "inquiry.assign"]
        assert assigns == [("inquiry.assign", admin.id, str(inquiry_id))] * 3

    async def test_an_agent_takes_one_for_themselves_and_gives_it_back(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, agent2: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        taken = await on_inquiry(client, agent, inquiry_id, "assign", {"staff_id": agent.id})
        assert taken.json()["assignee_id"] == agent.id
        again = await on_inquiry(client, agent, inquiry_id, "assign", {"staff_id": agent.id})
        assert again.status_code == 200  # already theirs: nothing changes

        theirs = await on_inquiry(client, agent2, inquiry_id, "assign", {"staff_id": agent2.id})
        assert (theirs.status_code, theirs.json()["error"]["code"]) == (409, "assigned_elsewhere")
        back_theirs = await on_inquiry(client, agent2, inquiry_id, "assign", {"staff_id": None})
        assert back_theirs.status_code == 409

        given_back = await on_inquiry(client, agent, inquiry_id, "assign", {"staff_id": None})
        assert given_back.json()["assignee_id"] is None
        assigns = [a for a in await audit_actions(app) if a[0] == "inquiry.assign"]
        assert [staff for _, staff, _ in assigns] == [agent.id, agent.id]

    async def test_an_agent_cannot_assign_someone_else(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, agent2: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        response = await on_inquiry(client, agent, inquiry_id, "assign", {"staff_id": agent2.id})
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        assert (await inquiry_detail(client, agent, inquiry_id))["assignee_id"] is None

    async def test_only_an_active_account_is_assigned(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        gone = await make_staff(app, "gone@ketaminetherapyclinic.ca", StaffRole.AGENT)
        await client.patch(f"{S}/accounts/{gone.id}", json={"active": False}, headers=admin.headers)
        for staff_id in (gone.id, 999):
            response = await on_inquiry(client, admin, inquiry_id, "assign", {"staff_id": staff_id})
            assert response.status_code == 404
        missing = await on_inquiry(client, admin, inquiry_id, "assign", {})
        assert missing.status_code == 422  # null is said, not left out

    async def test_assigning_puts_a_new_inquiry_in_progress(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        await on_inquiry(client, agent, inquiry_id, "assign", {"staff_id": agent.id})
        detail = await inquiry_detail(client, agent, inquiry_id)
        assert (detail["status"], detail["history"][0]["cause"]) == ("in_progress", "assigned")

    async def test_the_list_filters_by_assignee_me_an_id_or_none(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        agent2: StaffUser,
    ) -> None:
        mine, _ = await seed_task(app)
        theirs, _ = await seed_task(app)
        nobodys, _ = await seed_task(app)
        await on_inquiry(client, agent, mine, "assign", {"staff_id": agent.id})
        await on_inquiry(client, agent2, theirs, "assign", {"staff_id": agent2.id})

        async def listed(query: str) -> list[int]:
            response = await client.get(f"{S}/inquiries?{query}", headers=agent.headers)
            assert response.status_code == 200, response.text
            return [i["id"] for i in response.json()["inquiries"]]

        assert await listed("assignee=me") == [mine]
        assert await listed(f"assignee={agent2.id}") == [theirs]
        assert await listed("assignee=none") == [nobodys]
        assert await listed("assignee=me&status=in_progress") == [mine]
        bad = await client.get(f"{S}/inquiries?assignee=someone", headers=agent.headers)
        assert bad.status_code == 422

    async def test_disabling_an_account_gives_its_inquiries_back_to_nobody(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        other, _ = await seed_task(app)
        await on_inquiry(client, agent, inquiry_id, "assign", {"staff_id": agent.id})
        await on_inquiry(client, admin, other, "assign", {"staff_id": admin.id})
        await client.patch(
            f"{S}/accounts/{agent.id}", json={"active": False}, headers=admin.headers
        )
        assert (await inquiry_detail(client, admin, inquiry_id))["assignee_id"] is None
        assert (await inquiry_detail(client, admin, other))["assignee_id"] == admin.id
