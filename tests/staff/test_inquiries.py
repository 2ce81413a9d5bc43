"""Staff reads of inquiries, triage overrides, the CSV export and the audit log."""

from __future__ import annotations

import asyncio
import csv
import io

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.models import task_table
from inquiry.models import as_utc, audit_table, outbox_table
from inquiry.staff import inquiries
from inquiry.triage.taxonomy import Topic
from tests.conftest import valid_inquiry
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    audit_actions,
    claimed_task,
    seed_task,
    toronto,
)

S = "/api/v1/staff"


class TestReadInquiries:
    async def test_list_filters_by_topic_priority_status_and_date(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        await seed_task(app, topic=Topic.CLINICAL, at=toronto(2026, 6, 1, 10, 0))
        await seed_task(app, topic=Topic.GENERAL, at=toronto(2026, 6, 2, 10, 0))
        await seed_task(app, topic=Topic.CRISIS, at=toronto(2026, 6, 3, 9, 0))

        async def refs(query: str) -> list[str]:
            response = await client.get(f"{S}/inquiries{query}", headers=agent.headers)
            assert response.status_code == 200, response.text
            return [i["topic"] for i in response.json()["inquiries"]]

        assert await refs("") == ["crisis", "general", "clinical"]  # newest first
        assert await refs("?topic=clinical") == ["clinical"]
        assert await refs("?priority=urgent") == ["crisis"]
        assert await refs("?status=new&limit=2") == ["crisis", "general"]
        assert await refs("?since=2026-06-02T00:00:00Z&until=2026-06-03T00:00:00Z") == ["general"]
        # An offset is a time like any other: 10:30 in Toronto is after the 10:00 arrival.
        assert await refs("?since=2026-06-02T10:30:00-04:00&until=2026-06-03T00:00:00Z") == []
        assert await refs("?since=2026-06-02T09:30:00-04:00&until=2026-06-03T00:00:00Z") == [
            "general"
        ]
        for vague in ("since=0.5", "until=1780000000", "since=2026-06-02T10:00:00"):
            answer = await client.get(f"{S}/inquiries?{vague}", headers=agent.headers)
            assert answer.status_code == 422, vague
        assert (
            await client.get(f"{S}/inquiries?topic=nope", headers=agent.headers)
        ).status_code == 422

    async def test_the_list_carries_no_message_bodies(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        await seed_task(app)
        listed = (await client.get(f"{S}/inquiries", headers=agent.headers)).json()
        assert "message" not in listed["inquiries"][0]

    async def test_one_inquiry_in_full_and_its_read_is_audited(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        response = await client.get(f"{S}/inquiries/{inquiry_id}", headers=agent.headers)
        body = response.json()
        assert response.status_code == 200
        assert body["message"] == "Please call me about starting treatment."
        assert body["triage_reasons"] == ["test"]
        assert (body["callback_task_id"], body["callback_status"]) == (task_id, "open")
        assert ("inquiry.read", agent.id, str(inquiry_id)) in await audit_actions(app)
        missing = await client.get(f"{S}/inquiries/999", headers=agent.headers)
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


class TestTriageOverride:
    async def test_override_keeps_old_and_new_and_who_and_re_ranks_the_task(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        inquiry_id, task_id = await seed_task(app, topic=Topic.GENERAL)

        response = await client.post(
            f"{S}/inquiries/{inquiry_id}/triage",
            json={"topic": "clinical", "reason": "Describes side effects"},
            headers=agent.headers,
        )

        body = response.json()
        assert response.status_code == 200
        assert (body["topic"], body["priority"]) == ("clinical", "high")
        [override] = body["overrides"]
        assert override == {
            "at": "2026-06-03T14:00:00Z",
            "staff_id": agent.id,
            "old_topic": "general",
            "new_topic": "clinical",
            "old_priority": "low",
            "new_priority": "high",
            "reason": "Describes side effects",
        }
        task = (await client.get(f"{S}/callbacks/{task_id}", headers=agent.headers)).json()
        assert (task["priority"], task["due_at"]) == ("high", "2026-06-03T16:00:00Z")
        entry = [a for a in await audit_actions(app) if a[0] == "inquiry.triage_override"]
        assert entry == [("inquiry.triage_override", agent.id, str(inquiry_id))]

    async def test_crisis_is_always_urgent_and_on_call(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        body = (
            await client.post(
                f"{S}/inquiries/{inquiry_id}/triage",
                json={"topic": "crisis", "priority": "low", "reason": "Said so on the phone"},
                headers=agent.headers,
            )
        ).json()
        assert (body["priority"], body["crisis"]) == ("urgent", True)
        task = (await client.get(f"{S}/callbacks/{task_id}", headers=agent.headers)).json()
        assert (task["on_call"], task["overdue"]) == (True, False)

    async def test_an_override_to_clinical_creates_the_call_owed(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        general = valid_inquiry(topic="general", subject="Parking", message="Where do I park?")
        await client.post("/api/v1/inquiries", json=general)  # email preferred: no task
        listed = (await client.get(f"{S}/inquiries", headers=agent.headers)).json()
        inquiry_id = listed["inquiries"][0]["id"]
        assert (await client.get(f"{S}/callbacks", headers=agent.headers)).json()["tasks"] == []
        await client.post(
            f"{S}/inquiries/{inquiry_id}/triage",
            json={"topic": "clinical", "reason": "Medication question"},
            headers=agent.headers,
        )
        [task] = (await client.get(f"{S}/callbacks", headers=agent.headers)).json()["tasks"]
        assert (task["inquiry_id"], task["priority"]) == (inquiry_id, "high")

    async def test_an_override_to_spam_cancels_the_call(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        await client.post(
            f"{S}/inquiries/{inquiry_id}/triage",
            json={"topic": "spam", "reason": "Advertising"},
            headers=agent.headers,
        )
        task = (await client.get(f"{S}/callbacks/{task_id}", headers=agent.headers)).json()
        assert task["status"] == "cancelled"

    async def test_an_override_to_spam_frees_a_claimed_call_as_it_cancels_it(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, agent2: StaffUser
    ) -> None:
        inquiry_id, task_id = await claimed_task(app, client, agent)
        await client.post(
            f"{S}/inquiries/{inquiry_id}/triage",
            json={"topic": "spam", "reason": "Advertising"},
            headers=agent2.headers,
        )
        async with app.state.sessions() as session:
            query = sa.select(task_table).where(task_table.c.id == task_id)
            task = (await session.execute(query)).one()
        assert (task.status, task.claimed_by, task.claimed_until) == ("cancelled", None, None)
        now = app.state.clock()
        assert (as_utc(task.closed_at), task.close_reason) == (now, "triage override: spam")

    async def test_an_override_moves_unsent_mail_ahead_of_or_behind_a_backlog(
        self, client: httpx.AsyncClient, agent: StaffUser, engine: AsyncEngine
    ) -> None:
        await client.post("/api/v1/inquiries", json=valid_inquiry())
        listed = (await client.get(f"{S}/inquiries", headers=agent.headers)).json()
        inquiry_id = listed["inquiries"][0]["id"]
        async with engine.begin() as connection:
            # An on-call alert queued for it too (as alert_on_clinical would have), still due.
            await connection.execute(
                sa.insert(outbox_table).values(
                    inquiry_id=inquiry_id,
                    kind="urgent_alert",
                    recipient="oncall@example.ca",
                    message_id="<alert@example.ca>",
                    status="pending",
                    urgent=True,
                    attempts=0,
                    next_attempt_at=sa.func.now(),
                    created_at=sa.func.now(),
                )
            )

        async def urgency() -> dict[str, bool]:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    sa.select(outbox_table.c.kind, outbox_table.c.urgent).where(
                        outbox_table.c.inquiry_id == inquiry_id
                    )
                )
                return {kind: bool(urgent) for kind, urgent in rows}

        async def override(topic: str) -> None:
            response = await client.post(
                f"{S}/inquiries/{inquiry_id}/triage",
                json={"topic": topic, "reason": "Spoke to them"},
                headers=agent.headers,
            )
            assert response.status_code == 200, response.text

        assert await urgency() == {
            "admin_notification": False,
            "visitor_acknowledgement": False,
            "urgent_alert": True,
        }
        await override("crisis")
        assert set((await urgency()).values()) == {True}
        await override("general")
        assert await urgency() == {
            "admin_notification": False,
            "visitor_acknowledgement": False,
            "urgent_alert": True,  # an alert stays ahead whatever the triage
        }

    async def test_an_override_does_not_wait_on_mail_a_worker_is_recording(
        self, client: httpx.AsyncClient, agent: StaffUser, engine: AsyncEngine
    ) -> None:
        """A worker recording a batch holds its rows: the override leaves those in place
        rather than wait for them while holding the others (a possible deadlock)."""
        if engine.dialect.name != "postgresql":
            pytest.skip("row locks: SQLite has one writer at a time")
        await client.post("/api/v1/inquiries", json=valid_inquiry())
        listed = (await client.get(f"{S}/inquiries", headers=agent.headers)).json()
        inquiry_id = listed["inquiries"][0]["id"]
        table = outbox_table
        async with engine.connect() as worker:
            held = await worker.scalar(
                sa.select(sa.func.min(table.c.id)).where(table.c.inquiry_id == inquiry_id)
            )
            await worker.execute(sa.select(table.c.id).where(table.c.id == held).with_for_update())
            response = await asyncio.wait_for(
                client.post(
                    f"{S}/inquiries/{inquiry_id}/triage",
                    json={"topic": "crisis", "reason": "Spoke to them"},
                    headers=agent.headers,
                ),
                timeout=30,
            )
            await worker.rollback()
        assert response.status_code == 200, response.text
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.select(table.c.id, table.c.urgent).where(table.c.inquiry_id == inquiry_id)
            )
            urgency = {row.id: row.urgent for row in rows}
        assert urgency.pop(held) is False  # left in place, not waited for
        assert set(urgency.values()) == {True}

    async def test_an_override_that_changes_nothing_or_names_nothing_is_refused(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        same = await client.post(
            f"{S}/inquiries/{inquiry_id}/triage",
            json={"topic": "new_patient", "reason": "x"},
            headers=agent.headers,
        )
        assert (same.status_code, same.json()["error"]["code"]) == (409, "transition_not_allowed")
        empty = await client.post(
            f"{S}/inquiries/{inquiry_id}/triage", json={"reason": "x"}, headers=agent.headers
        )
        assert empty.status_code == 422
        missing = await client.post(
            f"{S}/inquiries/999/triage",
            json={"topic": "general", "reason": "x"},
            headers=agent.headers,
        )
        assert missing.status_code == 404


class TestExport:
    async def test_admins_export_csv_with_formulas_defused_and_the_export_audited(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        await seed_task(app)
        await client.post(
            "/api/v1/inquiries",
            json=valid_inquiry(name="=cmd|' /C calc'!A0", subject="@SUM(A1:A2)"),
        )

        response = await client.get(f"{S}/exports/inquiries.csv", headers=admin.headers)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 2
        assert rows[0]["callback_status"] == "open"
        assert rows[1]["name"] == "'=cmd|' /C calc'!A0"
        assert rows[1]["subject"] == "'@SUM(A1:A2)"
        assert rows[1]["phone"] == "(416) 555-0199"  # text to a spreadsheet, not a formula
        assert rows[0]["created_at"] == "2026-06-03T10:00:00-04:00"  # clinic time
        assert rows[0]["last_outcome"] == ""
        assert "message" not in rows[0]
        assert ("inquiry.export", admin.id, None) in await audit_actions(app)
        assert not response.content.startswith("\ufeff".encode())
        for_excel = await client.get(f"{S}/exports/inquiries.csv?bom=true", headers=admin.headers)
        assert for_excel.content.startswith("\ufeff".encode())

    async def test_the_export_takes_the_list_filters_and_pages_through_everything(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: StaffUser,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(inquiries, "EXPORT_BATCH", 2)
        for topic in (Topic.GENERAL, Topic.CLINICAL, Topic.GENERAL, Topic.BILLING, Topic.GENERAL):
            await seed_task(app, topic=topic)
        everything = await client.get(f"{S}/exports/inquiries.csv", headers=admin.headers)
        general = await client.get(
            f"{S}/exports/inquiries.csv?topic=general", headers=admin.headers
        )
        assert len(everything.text.strip().splitlines()) == 6
        assert [r["topic"] for r in csv.DictReader(io.StringIO(general.text))] == ["general"] * 3


class TestAuditLog:
    async def test_reads_and_changes_are_logged_with_the_address_and_no_bodies(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        await client.get(f"{S}/inquiries/{inquiry_id}", headers=agent.headers)
        await client.post(f"{S}/callbacks/{task_id}/claim", headers=agent.headers)
        await client.post(
            f"{S}/callbacks/{task_id}/attempts",
            json={"outcome": "no_answer", "note": "Secret clinical detail"},
            headers=agent.headers,
        )

        response = await client.get(f"{S}/audit?staff_id={agent.id}", headers=admin.headers)

        assert response.status_code == 200
        entries = response.json()
        assert [e["action"] for e in entries] == [
            "callback.attempt",
            "callback.claim",
            "inquiry.read",
        ]
        assert {e["client_ip"] for e in entries} == {"203.0.113.7"}
        assert entries[0]["detail"] == {
            "attempts": 1,
            "counted": True,
            "outcome": "no_answer",
            "status": "open",
        }
        async with app.state.sessions() as session:
            details = list(await session.scalars(sa.select(audit_table.c.detail)))
        assert not any("Secret clinical detail" in d or "Please call me" in d for d in details)

    async def test_reading_the_audit_log_is_itself_audited(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        await client.get(f"{S}/audit?action=inquiry.read", headers=admin.headers)
        second = (await client.get(f"{S}/audit", headers=admin.headers)).json()
        assert second[0]["action"] == "audit.read"
        assert second[0]["detail"] == {"filters": {"action": "inquiry.read"}}

    async def test_the_task_table_is_untouched_by_reads(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        await client.get(f"{S}/callbacks/{task_id}", headers=agent.headers)
        async with app.state.sessions() as session:
            status = await session.scalar(sa.select(task_table.c.status))
        assert status == "open"
