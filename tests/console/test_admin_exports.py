"""The admin Exports page: the inquiries CSV with filters, a BOM for Excel, clinic times,
the last outcome, phone numbers kept as text, no message bodies; audited."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from inquiry.triage.taxonomy import Topic
from tests.conftest import valid_inquiry
from tests.console.fixtures import Browser
from tests.staff.fixtures import FakeClock, StaffUser, act, audit_actions, seed_task

pytestmark = pytest.mark.postgres


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


class TestExports:
    async def test_the_csv_as_a_spreadsheet_reads_it(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin_console: Browser,
        admin: StaffUser,
        clock: FakeClock,
        admin_with_password: StaffUser,
    ) -> None:
        _, task = await seed_task(app)
        await act(client, admin, task, "claim")
        await act(client, admin, task, "attempts", outcome="no_answer", note="secret note")
        await client.post(
            "/api/v1/inquiries",
            json=valid_inquiry(name="=1+1 Hélène Côté", phone="+44 20 7946 0958"),
        )
        page = await admin_console.get("/staff/admin/exports")
        assert page.status_code == 200
        answer = await admin_console.get("/staff/admin/exports/inquiries.csv?bom=1")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.content.startswith("\ufeff".encode())
        rows = rows_of(answer.text)
        assert rows[0]["created_at"] == "2026-06-03T10:00:00-04:00"
        assert rows[0]["phone"] == "(416) 555-0199"
        assert rows[0]["last_outcome"] == "no_answer"
        assert rows[0]["status"] == "in_progress"
        assert rows[1]["name"] == "'=1+1 Hélène Côté"
        assert rows[1]["phone"] == "'+44 20 7946 0958"
        assert "message" not in rows[0]
        assert "secret note" not in answer.text
        assert "Please call me" not in answer.text
        plain = await admin_console.get("/staff/admin/exports/inquiries.csv")
        assert not plain.content.startswith("\ufeff".encode())
        exports = [s for a, s, _ in await audit_actions(app) if a == "inquiry.export"]
        assert exports == [admin_with_password.id] * 2

    async def test_filters_by_topic_status_and_clinic_dates(
        self, app: FastAPI, admin_console: Browser, clock: FakeClock
    ) -> None:
        await seed_task(app, topic=Topic.BILLING, at=clock.now - timedelta(days=3))
        await seed_task(app, topic=Topic.GENERAL)
        billing = await admin_console.get("/staff/admin/exports/inquiries.csv?topic=billing")
        assert [r["topic"] for r in rows_of(billing.text)] == ["billing"]
        today = await admin_console.get(
            "/staff/admin/exports/inquiries.csv?since=2026-06-03&until=2026-06-03&status=new"
        )
        assert [r["topic"] for r in rows_of(today.text)] == ["general"]
        bad = await admin_console.get("/staff/admin/exports/inquiries.csv?topic=<x>&since=soon")
        assert bad.status_code == 422
        assert "<x>" not in bad.text
        last_day = await admin_console.get("/staff/admin/exports/inquiries.csv?until=9999-12-31")
        assert last_day.status_code == 422

    async def test_agents_get_no_export(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await seed_task(app)
        await browser_client.sign_in()
        assert (await browser_client.get("/staff/admin/exports")).status_code == 403
        refused = await browser_client.get("/staff/admin/exports/inquiries.csv")
        assert refused.status_code == 403
        assert "inquiry.export" not in [a for a, _, _ in await audit_actions(app)]
