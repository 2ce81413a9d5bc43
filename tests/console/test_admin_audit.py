"""The admin Audit log page: filters, names and references, pages, and its audited CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.audit import Caller, record
from inquiry.models import inquiry_table
from tests.console.fixtures import ADMIN_EMAIL, Browser
from tests.staff.fixtures import FakeClock, StaffUser, audit_actions, seed_task, sessions, toronto

pytestmark = pytest.mark.postgres


def entry_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-entry="(\d+)"', page)]


async def write_entries(
    app: FastAPI, count: int, action: str = "test.entry", *, at: datetime | None = None
) -> None:
    async with sessions(app)() as session, session.begin():
        caller = Caller(staff=None, client_ip="cli", now=at or app.state.clock())
        for number in range(count):
            record(session, caller, action, number=number)


async def write_a_day_of_entries(app: FastAPI, admin_console: Browser, clock: FakeClock) -> str:
    """Two entries late on June 2 and one on June 3 (clinic time), and the admin reading an
    inquiry; returns that inquiry's reference."""
    await write_entries(app, 2, "test.before", at=toronto(2026, 6, 2, 23, 30))
    await write_entries(app, 1, "test.after", at=clock.now - timedelta(hours=1))
    inquiry_id, _ = await seed_task(app)
    async with sessions(app)() as session:
        query = sa.select(inquiry_table.c.reference).where(inquiry_table.c.id == inquiry_id)
        reference = str(await session.scalar(query))
    await admin_console.get(f"/staff/inquiries/{reference}")
    return reference


class TestAuditPage:
    async def test_names_and_references_in_place_of_ids(
        self,
        app: FastAPI,
        admin_console: Browser,
        agent_with_password: StaffUser,
        admin_with_password: StaffUser,
    ) -> None:
        _, task = await seed_task(app)
        member = f"/staff/admin/staff/{agent_with_password.id}"
        await admin_console.get(member)
        await admin_console.post(f"{member}/role", {"role": "admin"})
        page = await admin_console.get("/staff/admin/audit?action=staff.update")
        assert page.status_code == 200
        row = re.search(r"<tr data-entry=\"\d+\">(.*?)</tr>", page.text)
        assert row
        # Who did it and to whom, by email (these accounts have no name).
        assert f"<td>{ADMIN_EMAIL}</td><td>staff.update</td>" in row.group(1)
        assert f"<td>{agent_with_password.email}</td>" in row.group(1)

    async def test_filters_by_member_action_reference_and_clinic_dates(
        self,
        app: FastAPI,
        admin_console: Browser,
        clock: FakeClock,
        admin_with_password: StaffUser,
    ) -> None:
        # The clock reads June 3, 10:00 in Toronto; 02:00 UTC on June 3 is still June 2 there.
        reference = await write_a_day_of_entries(app, admin_console, clock)
        by_action = await admin_console.get("/staff/admin/audit?action=test.before")
        assert len(entry_ids(by_action.text)) == 2
        on_day = await admin_console.get("/staff/admin/audit?since=2026-06-03&until=2026-06-03")
        assert "<td>test.after</td>" in on_day.text
        assert "<td>test.before</td>" not in on_day.text
        before = await admin_console.get("/staff/admin/audit?until=2026-06-02")
        assert len(entry_ids(before.text)) == 2
        about = await admin_console.get(f"/staff/admin/audit?reference={reference.lower()}")
        assert len(entry_ids(about.text)) == 1
        assert f"<td>{reference}</td>" in about.text
        mine = await admin_console.get(f"/staff/admin/audit?staff={admin_with_password.id}")
        assert "<td>test.after</td>" not in mine.text
        assert "<td>session.create</td>" in mine.text
        unknown = await admin_console.get("/staff/admin/audit?reference=INQ-ZZZZZZ")
        assert entry_ids(unknown.text) == []
        bad = await admin_console.get("/staff/admin/audit?since=yesterday&staff=x")
        assert bad.status_code == 422
        assert "A filter is not valid" in bad.text
        last_day = await admin_console.get("/staff/admin/audit?until=9999-12-31")
        assert last_day.status_code == 422
        reads = [a for a, _, _ in await audit_actions(app) if a == "audit.read"]
        assert len(reads) == 8

    async def test_pages_of_fifty_newest_first(self, app: FastAPI, admin_console: Browser) -> None:
        await write_entries(app, 60)
        first = await admin_console.get("/staff/admin/audit?action=test.entry")
        ids = entry_ids(first.text)
        assert len(ids) == 50
        assert ids == sorted(ids, reverse=True)
        assert "Newer entries" not in first.text
        older = re.search(r'href="([^"]*offset=50[^"]*)"', first.text)
        assert older
        second = await admin_console.get(older.group(1).replace("&amp;", "&"))
        assert len(entry_ids(second.text)) == 10
        assert "Newer entries" in second.text
        assert "Older entries" not in second.text

    async def test_csv_is_filtered_escaped_in_clinic_time_and_audited(
        self, app: FastAPI, admin_console: Browser, admin_with_password: StaffUser
    ) -> None:
        await write_entries(app, 3, "=cmd|calc")
        answer = await admin_console.get("/staff/admin/audit.csv?action==cmd|calc")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0] == ["at", "staff", "action", "target", "client_ip", "detail"]
        assert len(rows) == 4
        assert rows[1][2] == "'=cmd|calc"
        assert rows[1][0].endswith("-04:00")  # Toronto in June, with its offset
        assert ("audit.export", admin_with_password.id, None) in await audit_actions(app)

    async def test_csv_takes_the_same_filters_as_the_page(
        self,
        app: FastAPI,
        admin_console: Browser,
        clock: FakeClock,
        admin_with_password: StaffUser,
    ) -> None:
        reference = await write_a_day_of_entries(app, admin_console, clock)
        expected = {
            "action=test.before": 2,
            "action=test.after&since=2026-06-03&until=2026-06-03": 1,
            "until=2026-06-02": 2,
            f"reference={reference.lower()}": 1,
            f"staff={admin_with_password.id}&action=session.create": 1,
            "reference=INQ-ZZZZZZ": 0,
        }
        for filters, count in expected.items():
            page = await admin_console.get(f"/staff/admin/audit?{filters}")
            exported = await admin_console.get(f"/staff/admin/audit.csv?{filters}")
            assert exported.status_code == 200, filters
            assert len(entry_ids(page.text)) == count, filters
            assert len(list(csv.reader(io.StringIO(exported.text)))) == 1 + count, filters
        for bad in ("since=yesterday&staff=x", f"action={'x' * 41}"):
            assert (await admin_console.get(f"/staff/admin/audit?{bad}")).status_code == 422
            assert (await admin_console.get(f"/staff/admin/audit.csv?{bad}")).status_code == 422
        full_length = await admin_console.get(f"/staff/admin/audit.csv?action={'x' * 40}")
        assert full_length.status_code == 200

    async def test_an_agent_reads_no_log(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        assert (await browser_client.get("/staff/admin/audit")).status_code == 403
        assert (await browser_client.get("/staff/admin/audit.csv")).status_code == 403
        too_long = f"/staff/admin/audit.csv?action={'x' * 41}"
        assert (await browser_client.get(too_long)).status_code == 403
        actions = [a for a, _, _ in await audit_actions(app)]
        assert "audit.read" not in actions
        assert "audit.export" not in actions
