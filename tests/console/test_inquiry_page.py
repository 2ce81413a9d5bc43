"""The inquiry page: everything about one inquiry, and its actions through the casework."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.callbacks.models import task_table
from inquiry.console.inquiries import moves
from inquiry.models import StaffRole, inquiry_table
from inquiry.staff.models import note_table, override_table
from tests.console.fixtures import PASSWORD, Browser, submitted
from tests.staff.fixtures import StaffUser, audit_actions, make_staff, sessions

pytestmark = pytest.mark.postgres


async def stored(app: FastAPI, reference: str) -> sa.Row[Any]:
    async with sessions(app)() as session:
        query = sa.select(inquiry_table).where(inquiry_table.c.reference == reference)
        return (await session.execute(query)).one()


async def count(app: FastAPI, table: sa.Table, inquiry_id: int) -> int:
    async with sessions(app)() as session:
        query = sa.select(sa.func.count()).where(table.c.inquiry_id == inquiry_id)
        return int(await session.scalar(query) or 0)


def buttons(page: str) -> list[str]:
    return re.findall(r'<button type="submit"[^>]*>([^<]+)</button>', page)


@pytest.fixture
async def console(browser_client: Browser, agent_with_password: StaffUser) -> Browser:
    await browser_client.sign_in()
    return browser_client


class TestTheTable:
    def test_the_buttons_are_the_moves_the_lifecycle_allows(self) -> None:
        assert moves("new", None) == ["in_progress", "waiting", "closed"]
        assert moves("in_progress", None) == ["waiting", "closed"]
        assert moves("closed", "resolved") == ["in_progress"]
        assert moves("closed", "spam") == ["in_progress"]  # and Not spam, for new


class TestReading:
    async def test_contact_task_and_emails_are_shown_and_the_read_audited(
        self, app: FastAPI, client: httpx.AsyncClient, console: Browser
    ) -> None:
        reference = await submitted(client, preferred_contact="phone", message="Call <me> soon")
        page = await console.get(f"/staff/inquiries/{reference}")
        assert page.status_code == 200
        assert page.text.count("<h1>") == 1
        assert '<a href="tel:+14165550199">' in page.text
        assert '<a href="mailto:marie@example.ca">' in page.text
        assert "Call &lt;me&gt; soon" in page.text
        assert "Clinic notification" in page.text
        assert "Acknowledgement to the visitor" in page.text
        assert "Waiting to be sent" in page.text
        assert "No attempt yet." in page.text
        assert re.search(r'href="/staff/tasks/\d+"', page.text)
        shown = {"Mark in progress", "Close", "Wait on the visitor", "Assign to me", "Add note"}
        assert shown <= set(buttons(page.text))
        assert "Not spam" not in buttons(page.text)
        assert "inquiry.read" in [a for a, _, _ in await audit_actions(app)]
        assert (await console.get("/staff/inquiries/INQ-ZZZZZZ")).status_code == 404


class TestActions:
    async def test_note_assign_to_me_close_then_reopen_as_new_is_refused(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        console: Browser,
        agent_with_password: StaffUser,
    ) -> None:
        reference = await submitted(client)
        path = f"/staff/inquiries/{reference}"
        added = await console.post(f"{path}/notes", {"text": "Left a message with her GP"})
        assert added.headers["location"] == f"{path}?done=note"
        assigned = await console.post(f"{path}/assign", {"staff_id": "me"})
        assert assigned.headers["location"] == f"{path}?done=assign"
        closed = await console.post(
            f"{path}/status", {"status": "closed", "reason": "resolved", "note": "Booked"}
        )
        assert closed.headers["location"] == f"{path}?done=status"
        row = await stored(app, reference)
        assert (row.status, row.close_reason) == ("closed", "resolved")
        assert row.assignee_id == agent_with_password.id
        page = await console.get(f"{path}?done=status")
        assert "The status was changed." in page.text
        assert "Left a message with her GP" in page.text
        assert "Closed (resolved)" in page.text
        assert "Reopen" in buttons(page.text)
        assert "Not spam" not in buttons(page.text)
        # Only an inquiry closed as spam goes back to new: the table refuses it here.
        refused = await console.post(f"{path}/not-spam")
        assert refused.headers["location"] == f"{path}?problem=transition_not_allowed"
        assert (await stored(app, reference)).status == "closed"
        page = await console.get(refused.headers["location"])
        assert "This cannot be done to the inquiry as it stands" in page.text
        actions = [a for a, _, _ in await audit_actions(app)]
        assert {"inquiry.note", "inquiry.assign", "inquiry.status"} <= set(actions)
        assert "inquiry.not_spam" not in actions

    async def test_not_spam_gives_a_quarantined_inquiry_its_call(
        self, app: FastAPI, client: httpx.AsyncClient, console: Browser
    ) -> None:
        reference = await submitted(client, website="x", preferred_contact="phone")
        row = await stored(app, reference)
        assert await count(app, task_table, row.id) == 0
        page = await console.get(f"/staff/inquiries/{reference}")
        assert "This inquiry was quarantined as spam." in page.text
        released = await console.post(f"/staff/inquiries/{reference}/not-spam")
        assert released.headers["location"].endswith("?done=not_spam")
        assert (await stored(app, reference)).status == "new"
        assert await count(app, task_table, row.id) == 1

    async def test_refused_or_malformed_steps_change_nothing(
        self, app: FastAPI, client: httpx.AsyncClient, console: Browser, agent2: StaffUser
    ) -> None:
        reference = await submitted(client)
        row = await stored(app, reference)
        path = f"/staff/inquiries/{reference}"
        steps = [
            ("notes", {"text": "  "}, "note_empty"),
            ("status", {"status": "closed", "reason": "bogus"}, "invalid_status_change"),
            ("status", {"status": "new"}, "invalid_status_change"),
            ("status", {"status": "waiting", "until": "2001-01-01"}, "invalid_schedule"),
            ("status", {"status": "waiting", "until": "soon"}, "invalid_schedule"),
            ("assign", {"staff_id": str(agent2.id)}, "forbidden"),
            ("assign", {"staff_id": "x"}, "not_found"),
            ("triage", {"topic": "billing", "reason": ""}, "override_empty"),
        ]
        for action, form, problem in steps:
            answer = await console.post(f"{path}/{action}", form)
            assert answer.headers["location"] == f"{path}?problem={problem}", (action, form)
        assert (await console.post(f"{path}/notes", {"text": "x"}, csrf=False)).status_code == 403
        after = await stored(app, reference)
        assert (after.status, after.assignee_id, after.topic) == ("new", None, row.topic)
        assert await count(app, note_table, row.id) == 0
        page = await console.get(f"{path}?problem=note_empty")
        assert 'aria-invalid="true" aria-describedby="note-error"' in page.text

    async def test_triage_override_keeps_old_and_new_with_the_reason(
        self, app: FastAPI, client: httpx.AsyncClient, console: Browser
    ) -> None:
        reference = await submitted(client)
        path = f"/staff/inquiries/{reference}"
        answer = await console.post(
            f"{path}/triage", {"topic": "billing", "priority": "", "reason": "Asked for receipts"}
        )
        assert answer.headers["location"] == f"{path}?done=triage"
        row = await stored(app, reference)
        assert row.topic == "billing"
        assert await count(app, override_table, row.id) == 1
        page = await console.get(path)
        assert "New patient, Normal → Billing, Normal: Asked for receipts" in page.text


class TestLinked:
    async def test_a_duplicate_is_shown_on_both_pages_and_unlinked_from_the_first(
        self, app: FastAPI, client: httpx.AsyncClient, console: Browser
    ) -> None:
        first = await submitted(client)
        second = await submitted(client, message="Me again: could someone call me back?")
        assert (await stored(app, second)).duplicate_of == (await stored(app, first)).id
        page = await console.get(f"/staff/inquiries/{second}")
        assert f'A duplicate of <a href="/staff/inquiries/{first}">' in page.text
        page = await console.get(f"/staff/inquiries/{first}")
        assert f'Its duplicate <a href="/staff/inquiries/{second}">' in page.text
        assert f'aria-label="Unlink {second}"' in page.text
        answer = await console.post(f"/staff/inquiries/{second}/unlink", {"back": first})
        assert answer.headers["location"] == f"/staff/inquiries/{first}?done=unlink"
        assert (await stored(app, second)).duplicate_of is None
        assert await count(app, task_table, (await stored(app, second)).id) == 1
        assert "No linked inquiry." in (await console.get(f"/staff/inquiries/{first}")).text
        again = await console.post(f"/staff/inquiries/{second}/unlink", {"back": first})
        assert (
            again.headers["location"] == f"/staff/inquiries/{first}?problem=transition_not_allowed"
        )
        assert "inquiry.unlink" in [a for a, _, _ in await audit_actions(app)]


class TestAdmin:
    async def test_an_admin_assigns_any_colleague(
        self, app: FastAPI, client: httpx.AsyncClient, browser_client: Browser, agent2: StaffUser
    ) -> None:
        await make_staff(app, "chief@ketaminetherapyclinic.ca", StaffRole.ADMIN, password=PASSWORD)
        await browser_client.sign_in("chief@ketaminetherapyclinic.ca")
        reference = await submitted(client)
        path = f"/staff/inquiries/{reference}"
        page = await browser_client.get(path)
        assert f'<option value="{agent2.id}">' in page.text
        answer = await browser_client.post(f"{path}/assign", {"staff_id": str(agent2.id)})
        assert answer.headers["location"] == f"{path}?done=assign"
        assert (await stored(app, reference)).assignee_id == agent2.id
