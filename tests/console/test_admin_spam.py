"""The admin Spam page: the quarantine, Not spam (the lifecycle's release), Delete (erasure)."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.callbacks.models import task_table
from inquiry.models import inquiry_table, outbox_table
from inquiry.privacy.models import erasure_table
from tests.conftest import valid_inquiry
from tests.console.fixtures import Browser
from tests.staff.fixtures import StaffUser, audit_actions, sessions

pytestmark = pytest.mark.postgres

SPAM = "We offer SEO services to rank your website first on Google. Cheap backlinks!"


async def quarantined(client: httpx.AsyncClient, **body: object) -> str:
    response = await client.post("/api/v1/inquiries", json=valid_inquiry(**body))
    assert response.status_code == 201
    reference: str = response.json()["reference"]
    return reference


async def inquiry_of(app: FastAPI, reference: str) -> sa.Row[tuple[object, ...]]:
    async with sessions(app)() as session:
        query = sa.select(inquiry_table).where(inquiry_table.c.reference == reference)
        return (await session.execute(query)).one()


class TestSpamPage:
    async def test_lists_the_quarantine_with_reasons_escaped(
        self, client: httpx.AsyncClient, admin_console: Browser
    ) -> None:
        robot = await quarantined(client, website="x", subject="<b>Buy</b>")
        words = await quarantined(client, message=SPAM)
        page = await admin_console.get("/staff/admin/spam")
        assert page.status_code == 200
        assert re.findall(r'data-reference="([^"]+)"', page.text) == [words, robot]
        assert "the form&#39;s hidden field was filled in" in page.text
        assert "its words look like spam" in page.text
        assert "&lt;b&gt;Buy&lt;/b&gt;" in page.text

    async def test_not_spam_releases_it_acknowledged_and_called(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin_console: Browser,
        admin_with_password: StaffUser,
    ) -> None:
        reference = await quarantined(client, website="x", preferred_contact="phone")
        await admin_console.get("/staff/admin/spam")
        answer = await admin_console.post(f"/staff/admin/spam/{reference}/release")
        assert answer.headers["location"] == "/staff/admin/spam?notice=released"
        row = await inquiry_of(app, reference)
        assert (row.status, row.close_reason, row.quarantine_reason) == ("new", None, None)
        async with sessions(app)() as session:
            kinds = await session.scalars(
                sa.select(outbox_table.c.kind).where(outbox_table.c.inquiry_id == row.id)
            )
            assert "visitor_acknowledgement" in list(kinds)
            task = await session.scalar(
                sa.select(task_table.c.status).where(task_table.c.inquiry_id == row.id)
            )
            assert task == "open"
        assert ("inquiry.not_spam", admin_with_password.id, str(row.id)) in await audit_actions(app)
        again = await admin_console.post(f"/staff/admin/spam/{reference}/release")
        assert again.headers["location"] == "/staff/admin/spam?problem=not_quarantined"

    async def test_delete_erases_it_and_keeps_the_tombstone(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin_console: Browser,
        admin_with_password: StaffUser,
    ) -> None:
        reference = await quarantined(client, message=SPAM)
        await admin_console.get("/staff/admin/spam")
        answer = await admin_console.post(f"/staff/admin/spam/{reference}/delete")
        assert answer.headers["location"] == "/staff/admin/spam?notice=deleted"
        row = await inquiry_of(app, reference)
        assert SPAM not in str(row.message)
        async with sessions(app)() as session:
            tombstone = (
                await session.execute(
                    sa.select(erasure_table).where(erasure_table.c.inquiry_id == row.id)
                )
            ).one()
            assert tombstone.staff_id == admin_with_password.id
        assert ("privacy.erase", admin_with_password.id, str(row.id)) in await audit_actions(app)
        page = await admin_console.get("/staff/admin/spam")
        assert reference not in page.text

    async def test_an_inquiry_not_in_quarantine_is_neither_released_nor_erased(
        self, app: FastAPI, client: httpx.AsyncClient, admin_console: Browser
    ) -> None:
        response = await client.post("/api/v1/inquiries", json=valid_inquiry())
        reference = response.json()["reference"]
        await admin_console.get("/staff/admin/spam")
        for action in ("release", "delete"):
            refused = await admin_console.post(f"/staff/admin/spam/{reference}/{action}")
            assert refused.headers["location"] == "/staff/admin/spam?problem=not_quarantined"
        row = await inquiry_of(app, reference)
        assert row.message == valid_inquiry()["message"]
        assert row.status == "new"

    async def test_agents_and_tokenless_forms_are_refused(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        browser_client: Browser,
        agent_with_password: StaffUser,
    ) -> None:
        reference = await quarantined(client, message=SPAM)
        await browser_client.sign_in()
        assert (await browser_client.get("/staff/admin/spam")).status_code == 403
        refused = await browser_client.post(f"/staff/admin/spam/{reference}/delete")
        assert refused.status_code == 403
        assert (await inquiry_of(app, reference)).message == SPAM
