"""The admin Privacy page: access exports as downloads, erasure after a confirmation step."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.models import inquiry_table
from inquiry.privacy.models import erasure_table
from tests.conftest import valid_inquiry
from tests.console.fixtures import Browser, hidden
from tests.staff.fixtures import StaffUser, audit_actions, sessions

pytestmark = pytest.mark.postgres


async def submitted(client: httpx.AsyncClient, **fields: object) -> str:
    answer = await client.post("/api/v1/inquiries", json=valid_inquiry(**fields))
    assert answer.status_code == 201
    reference: str = answer.json()["reference"]
    return reference


async def stored(app: FastAPI, reference: str) -> sa.Row[tuple[object, ...]]:
    async with sessions(app)() as session:
        query = sa.select(inquiry_table).where(inquiry_table.c.reference == reference)
        return (await session.execute(query)).one()


class TestAccessExport:
    async def test_json_and_html_downloads_of_everything_held_audited(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin_console: Browser,
        admin_with_password: StaffUser,
    ) -> None:
        reference = await submitted(client, email="marie@example.ca", name="Marie <Tremblay>")
        await admin_console.get("/staff/admin/privacy")
        as_json = await admin_console.post(
            "/staff/admin/privacy/export",
            {"kind": "email", "value": " Marie@Example.ca ", "format": "json"},
        )
        assert as_json.status_code == 200
        assert "attachment" in as_json.headers["content-disposition"]
        held = json.loads(as_json.text)
        assert [i["inquiry"]["reference"] for i in held["inquiries"]] == [reference]
        as_html = await admin_console.post(
            "/staff/admin/privacy/export",
            {"kind": "reference", "value": reference, "format": "html"},
        )
        assert as_html.headers["content-type"] == "text/html; charset=utf-8"
        assert "Marie &lt;Tremblay&gt;" in as_html.text
        exports = [s for a, s, _ in await audit_actions(app) if a == "privacy.export"]
        assert exports == [admin_with_password.id] * 2

    async def test_nobody_or_no_selector_is_a_clear_page(self, admin_console: Browser) -> None:
        await admin_console.get("/staff/admin/privacy")
        nobody = await admin_console.post(
            "/staff/admin/privacy/export", {"kind": "email", "value": "nobody@example.ca"}
        )
        assert nobody.status_code == 404
        assert "Nothing is held about this person." in nobody.text
        bad = await admin_console.post(
            "/staff/admin/privacy/export", {"kind": "phone", "value": "<call me>"}
        )
        assert bad.status_code == 422
        assert "&lt;call me&gt;" in bad.text


class TestErasure:
    async def test_plan_first_then_erase_what_it_showed_with_who_and_why(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin_console: Browser,
        admin_with_password: StaffUser,
    ) -> None:
        reference = await submitted(client, email="marie@example.ca")
        await admin_console.get("/staff/admin/privacy")
        plan = await admin_console.post(
            "/staff/admin/privacy/erase/plan", {"kind": "email", "value": "marie@example.ca"}
        )
        assert plan.status_code == 200
        assert reference in plan.text
        assert "Erase permanently" in plan.text
        assert (await stored(app, reference)).redacted_at is None  # nothing changed yet
        shown = hidden(plan.text, "inquiry")
        # One stored after the plan was shown is not erased unseen.
        later = await submitted(client, email="marie@example.ca")
        form = {"kind": "email", "value": "marie@example.ca", "inquiry": shown}
        unexplained = await admin_console.post("/staff/admin/privacy/erase", form)
        assert unexplained.status_code == 422
        assert (await stored(app, reference)).redacted_at is None
        done = await admin_console.post(
            "/staff/admin/privacy/erase",
            {**form, "erased_by": "Marie, by phone", "reason": "consent withdrawn"},
        )
        assert done.status_code == 200
        assert f"Erased {reference}." in done.text
        row = await stored(app, reference)
        assert row.redacted_at is not None
        assert row.email != "marie@example.ca"
        assert (await stored(app, later)).redacted_at is None
        async with sessions(app)() as session:
            tombstone = (await session.execute(sa.select(erasure_table))).one()
        assert (tombstone.erased_by, tombstone.reason) == ("Marie, by phone", "consent withdrawn")
        assert tombstone.staff_id == admin_with_password.id
        assert ("privacy.erase", admin_with_password.id, str(row.id)) in await audit_actions(app)

    async def test_agents_and_tokenless_forms_erase_nothing(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin_console: Browser,
    ) -> None:
        reference = await submitted(client)
        await admin_console.get("/staff/admin/privacy")
        form = {"kind": "reference", "value": reference, "erased_by": "x", "reason": "y"}
        row = await stored(app, reference)
        refused = await admin_console.post(
            "/staff/admin/privacy/erase", {**form, "inquiry": str(row.id)}, csrf=False
        )
        assert refused.status_code == 403
        assert (await stored(app, reference)).redacted_at is None

    async def test_an_agent_is_refused(
        self, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        assert (await browser_client.get("/staff/admin/privacy")).status_code == 403
        posted = await browser_client.post(
            "/staff/admin/privacy/export", {"kind": "email", "value": "marie@example.ca"}
        )
        assert posted.status_code == 403
