"""The header's Search and the Inquiries list, over the staff search and its filters."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.console.finding import PAGE_SIZE
from inquiry.models import inquiry_table
from tests.console.fixtures import Browser, submitted
from tests.staff.fixtures import FakeClock, StaffUser, audit_actions, seed_task, sessions

pytestmark = pytest.mark.postgres


def listed(page: str) -> list[str]:
    return re.findall(r'data-inquiry="([^"]+)"', page)


@pytest.fixture
async def console(browser_client: Browser, agent_with_password: StaffUser) -> Browser:
    await browser_client.sign_in()
    return browser_client


class TestSearch:
    async def test_every_page_has_the_search_field(self, console: Browser) -> None:
        for path in ("/staff", "/staff/inquiries", "/staff/search"):
            page = await console.get(path)
            assert '<label for="site-search">Search</label>' in page.text, path
            assert 'role="search"' in page.text

    async def test_one_match_opens_it_whatever_the_phones_writing(
        self, app: FastAPI, client: httpx.AsyncClient, console: Browser
    ) -> None:
        reference = await submitted(client, phone="416-555-0142")
        await submitted(client, phone="416-555-0143", name="Someone Else")
        for q in ("(416) 555-0142", "+1 416 555 0142", "4165550142", reference.lower()):
            answer = await console.get("/staff/search", params={"q": q})
            assert answer.status_code == 303, q
            assert answer.headers["location"] == f"/staff/inquiries/{reference}"
        entries = [a for a, _, _ in await audit_actions(app)]
        assert entries.count("inquiry.list") == 4

    async def test_several_matches_are_listed_without_their_messages(
        self, client: httpx.AsyncClient, console: Browser
    ) -> None:
        first = await submitted(client, name="Hélène Tremblay", message="First <b>message</b>")
        second = await submitted(client, name="Helene Tremblay", email="h2@example.ca")
        page = await console.get("/staff/search", params={"q": "helene"})
        assert page.status_code == 200
        assert set(listed(page.text)) == {first, second}
        assert "message</b>" not in page.text
        assert "First &lt;b&gt;" not in page.text
        assert "Inquiries matching “helene”" in page.text
        nothing = await console.get("/staff/search", params={"q": "nobody at all"})
        assert "No inquiry found." in nothing.text
        empty = await console.get("/staff/search", params={"q": "  "})
        assert "Search by reference, name, email or phone number." in empty.text
        assert (await console.get("/staff/search", params={"q": "x" * 201})).status_code == 422


class TestInquiriesList:
    async def test_filters_combine_and_nothing_unknown_is_an_error(
        self, app: FastAPI, client: httpx.AsyncClient, console: Browser
    ) -> None:
        billing = await submitted(client, topic="billing", message="About my receipt please.")
        general = await submitted(client, topic="general", message="Where do I park my car?")
        await console.post(f"/staff/inquiries/{general}/assign", {"staff_id": "me"})
        page = await console.get("/staff/inquiries")
        assert listed(page.text) == [general, billing]
        assert "About my receipt" not in page.text
        assert listed((await console.get("/staff/inquiries?assignee=me")).text) == [general]
        assert listed((await console.get("/staff/inquiries?assignee=none")).text) == [billing]
        assert listed((await console.get("/staff/inquiries?status=in_progress")).text) == [general]
        by_topic = await console.get("/staff/inquiries?topic=billing&status=new")
        assert listed(by_topic.text) == [billing]
        assert '<option value="billing" selected>' in by_topic.text
        for query in ("status=bogus", "topic=x", "priority=", "assignee=12"):
            assert len(listed((await console.get(f"/staff/inquiries?{query}")).text)) == 2
        bad = await console.get("/staff/inquiries?since=yesterday&until=2100-01-01")
        assert bad.status_code == 200
        assert 'aria-describedby="since-error"' in bad.text
        assert "until-error" not in bad.text
        assert (await console.get("/staff/inquiries?page=0")).status_code == 422

    async def test_dates_are_clinic_days_and_pages_follow_each_other(
        self, app: FastAPI, console: Browser, clock: FakeClock
    ) -> None:
        for days in range(PAGE_SIZE + 1):
            await seed_task(app, at=clock.now - timedelta(days=days, hours=1))
        first = await console.get("/staff/inquiries")
        assert len(listed(first.text)) == PAGE_SIZE
        assert 'href="/staff/inquiries?page=2"' in first.text
        second = await console.get("/staff/inquiries?page=2")
        assert len(listed(second.text)) == 1
        assert "Previous page" in second.text
        assert "Next page" not in second.text
        # The test clock is 10:00 in Toronto on 2026-06-03: "until" includes that whole day.
        day = await console.get("/staff/inquiries?since=2026-06-02&until=2026-06-02")
        async with sessions(app)() as session:
            query = sa.select(inquiry_table.c.created_at).where(
                inquiry_table.c.reference.in_(listed(day.text))
            )
            assert len(list(await session.scalars(query))) == 1
        assert len(listed((await console.get("/staff/inquiries?since=2026-06-03")).text)) == 1
