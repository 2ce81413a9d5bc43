"""The queue and the call screen: the callback service's operations, audited as in the API."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.callbacks.models import Channel, attempt_table, task_table
from inquiry.models import inquiry_table, staff_table
from inquiry.triage.taxonomy import Topic
from tests.console.fixtures import Browser
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    act,
    audit_actions,
    seed_task,
    sessions,
    toronto,
)

pytestmark = pytest.mark.postgres


async def task_row(app: FastAPI, task_id: int) -> sa.Row[tuple[object, ...]]:
    async with sessions(app)() as session:
        query = sa.select(task_table).where(task_table.c.id == task_id)
        return (await session.execute(query)).one()


async def inquiry_row(app: FastAPI, inquiry_id: int) -> sa.Row[tuple[object, ...]]:
    async with sessions(app)() as session:
        query = sa.select(inquiry_table).where(inquiry_table.c.id == inquiry_id)
        return (await session.execute(query)).one()


def task_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-task="(\d+)"', page)]


@pytest.fixture
async def console(browser_client: Browser, agent_with_password: StaffUser) -> Browser:
    await browser_client.sign_in()
    return browser_client


class TestQueue:
    async def test_urgent_first_marked_and_overdue_flagged_in_clinic_time(
        self, app: FastAPI, console: Browser, clock: FakeClock
    ) -> None:
        _, late = await seed_task(app, at=clock.now - timedelta(days=3))
        _, crisis = await seed_task(app, topic=Topic.CRISIS)
        page = await console.get("/staff")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert task_ids(page.text) == [crisis, late]
        assert page.text.count("<h1>") == 1
        assert '<span class="badge crisis">Urgent</span>' in page.text
        assert '<span class="badge overdue">Overdue</span>' in page.text
        # Due times in Toronto's wall clock: the crisis is due now, 10:00 on a Wednesday.
        assert ">10:00</time> (due in 0 min)" in page.text
        assert "callback.list" in [a for a, _, _ in await audit_actions(app)]

    async def test_filters_mine_and_priority(
        self, app: FastAPI, console: Browser, agent: StaffUser
    ) -> None:
        _, crisis = await seed_task(app, topic=Topic.CRISIS)
        _, other = await seed_task(app)
        await console.post(f"/staff/tasks/{other}/claim")
        assert task_ids((await console.get("/staff?mine=1")).text) == [other]
        assert task_ids((await console.get("/staff?priority=urgent")).text) == [crisis]
        # A priority that is no priority is no filter, not an error.
        assert len(task_ids((await console.get("/staff?priority=bogus")).text)) == 2

    async def test_filter_by_channel(self, app: FastAPI, console: Browser) -> None:
        _, call = await seed_task(app)
        _, reply = await seed_task(app, phone=None, channel=Channel.EMAIL)
        assert task_ids((await console.get("/staff?channel=email")).text) == [reply]
        assert task_ids((await console.get("/staff?channel=phone")).text) == [call]
        assert sorted(task_ids((await console.get("/staff?channel=bogus")).text)) == [call, reply]

    async def test_calls_awaiting_a_decision_are_shown_apart_at_the_top(
        self, app: FastAPI, console: Browser
    ) -> None:
        _, waiting = await seed_task(app)
        _, stuck = await seed_task(app, topic=Topic.CRISIS)
        async with sessions(app)() as session, session.begin():
            await session.execute(
                sa.update(task_table)
                .where(task_table.c.id == stuck)
                .values(status="awaiting_decision")
            )
        page = (await console.get("/staff")).text
        apart, rest = page.split("<h2>To call or answer</h2>")
        assert 'id="awaiting-heading">Awaiting an admin&#39;s decision</h2>' in apart
        assert task_ids(apart) == [stuck]
        assert task_ids(rest) == [waiting]

    async def test_the_call_screen_lists_the_linked_inquiries(
        self, app: FastAPI, console: Browser
    ) -> None:
        first, task_id = await seed_task(app)
        later, _ = await seed_task(app)
        async with sessions(app)() as session, session.begin():
            await session.execute(
                sa.update(inquiry_table)
                .where(inquiry_table.c.id == later)
                .values(duplicate_of=first)
            )
            reference = await session.scalar(
                sa.select(inquiry_table.c.reference).where(inquiry_table.c.id == later)
            )
        page = (await console.get(f"/staff/tasks/{task_id}")).text
        assert f'<dt>Linked inquiries</dt><dd><a href="/staff/inquiries/{reference}">' in page

    async def test_next_call_claims_the_first_task_and_opens_it(
        self, app: FastAPI, console: Browser
    ) -> None:
        await seed_task(app)
        _, crisis = await seed_task(app, topic=Topic.CRISIS)
        response = await console.post("/staff/next")
        assert response.status_code == 303
        assert response.headers["location"] == f"/staff/tasks/{crisis}"
        row = await task_row(app, crisis)
        assert row.status == "claimed"
        assert "callback.claim_next" in [a for a, _, _ in await audit_actions(app)]

    async def test_an_empty_queue_says_so(self, console: Browser) -> None:
        response = await console.post("/staff/next")
        assert response.headers["location"] == "/staff?notice=empty"
        page = await console.get(response.headers["location"])
        assert "The queue is empty" in page.text

    async def test_next_call_without_the_csrf_token_claims_nothing(
        self, app: FastAPI, console: Browser
    ) -> None:
        _, task_id = await seed_task(app)
        assert (await console.post("/staff/next", csrf=False)).status_code == 403
        assert (await task_row(app, task_id)).status == "open"

    async def test_the_version_moves_when_what_the_page_shows_would(
        self, app: FastAPI, console: Browser, agent2: StaffUser
    ) -> None:
        async def version() -> str:
            found: str = (await console.get("/staff/queue/version")).json()["version"]
            return found

        _, task_id = await seed_task(app)
        before = await version()
        assert await version() == before
        await seed_task(app, topic=Topic.CRISIS)
        arrived = await version()
        assert arrived != before
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            assert (await act(other, agent2, task_id, "claim")).status_code == 200
        assert await version() != arrived


class TestCallScreen:
    async def test_the_call_screen_shows_the_call_and_audits_the_reads(
        self, app: FastAPI, console: Browser
    ) -> None:
        _, task_id = await seed_task(app, voicemail_ok=False)
        page = await console.get(f"/staff/tasks/{task_id}")
        assert page.status_code == 200
        assert '<a href="tel:+14165550199">' in page.text
        assert "Please call me about starting treatment." in page.text
        await console.post(f"/staff/tasks/{task_id}/claim")
        page = await console.get(f"/staff/tasks/{task_id}")
        buttons = re.findall(r'name="outcome" value="([a-z_]+)"', page.text)
        # The service's list for this task: no voicemail, the visitor did not allow one.
        assert buttons == ["reached", "no_answer", "busy", "wrong_number", "declined"]
        assert "Your claim ends in 15 min." in page.text
        actions = [a for a, _, _ in await audit_actions(app)]
        assert actions.count("callback.read") == 2
        assert actions.count("inquiry.read") == 2

    async def test_an_email_task_offers_the_email_outcomes_and_no_phone(
        self, app: FastAPI, console: Browser
    ) -> None:
        inquiry_id, task_id = await seed_task(app, phone=None, channel=Channel.EMAIL)
        await console.post(f"/staff/tasks/{task_id}/claim")
        page = await console.get(f"/staff/tasks/{task_id}")
        assert 'href="tel:' not in page.text
        assert '<a href="mailto:visitor@example.ca">' in page.text
        assert "Email reply" in page.text
        buttons = re.findall(r'name="outcome" value="([a-z_]+)"', page.text)
        assert buttons == ["replied", "no_reply_needed", "bounced"]
        await console.post(f"/staff/tasks/{task_id}/attempt", {"outcome": "replied"})
        inquiry = await inquiry_row(app, inquiry_id)
        assert (inquiry.status, inquiry.close_reason) == ("closed", "resolved")

    async def test_no_answer_with_a_note_then_reached_closes_the_inquiry(
        self, app: FastAPI, console: Browser, clock: FakeClock
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        await console.post("/staff/next")
        recorded = await console.post(
            f"/staff/tasks/{task_id}/attempt", {"outcome": "no_answer", "note": "Rang 8 times"}
        )
        assert recorded.headers["location"] == f"/staff/tasks/{task_id}?recorded=no_answer"
        page = await console.get(recorded.headers["location"])
        assert "Recorded: No answer." in page.text
        assert "No answer: Rang 8 times" in page.text

        clock.advance(hours=3)  # past the retry time, and the console's idle limit
        await console.sign_in()
        assert (await console.post("/staff/next")).headers["location"].endswith(f"/{task_id}")
        await console.post(f"/staff/tasks/{task_id}/attempt", {"outcome": "reached"})
        task = await task_row(app, task_id)
        inquiry = await inquiry_row(app, inquiry_id)
        assert (task.status, task.attempts) == ("done", 2)
        assert (inquiry.status, inquiry.close_reason) == ("closed", "resolved")
        assert [a for a, _, _ in await audit_actions(app)].count("callback.attempt") == 2

    async def test_someone_elses_call_cannot_be_recorded(
        self, app: FastAPI, console: Browser, agent2: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            assert (await act(other, agent2, task_id, "claim")).status_code == 200
        refused = await console.post(f"/staff/tasks/{task_id}/attempt", {"outcome": "reached"})
        assert refused.headers["location"] == f"/staff/tasks/{task_id}?problem=claim_conflict"
        page = await console.get(refused.headers["location"])
        assert "A colleague holds this call." in page.text
        async with sessions(app)() as session:
            attempts = await session.scalar(sa.select(sa.func.count()).select_from(attempt_table))
        assert attempts == 0

    async def test_an_unknown_outcome_changes_nothing(self, app: FastAPI, console: Browser) -> None:
        _, task_id = await seed_task(app)
        await console.post("/staff/next")
        refused = await console.post(f"/staff/tasks/{task_id}/attempt", {"outcome": "teleported"})
        assert "problem=transition_not_allowed" in refused.headers["location"]
        assert (await task_row(app, task_id)).attempts == 0

    async def test_reschedule_reads_the_time_in_clinic_time(
        self, app: FastAPI, console: Browser
    ) -> None:
        _, task_id = await seed_task(app)
        moved = await console.post(f"/staff/tasks/{task_id}/reschedule", {"at": "2026-06-04T14:30"})
        assert moved.headers["location"] == "/staff?notice=rescheduled"
        row = await task_row(app, task_id)
        due = row.next_attempt_at.replace(tzinfo=None)
        assert due == toronto(2026, 6, 4, 14, 30).replace(tzinfo=None)

    async def test_a_high_priority_call_is_put_off_only_with_a_reason(
        self, app: FastAPI, console: Browser
    ) -> None:
        _, task_id = await seed_task(app, topic=Topic.CLINICAL)
        before = await task_row(app, task_id)
        assert before.priority == "high"
        refused = await console.post(
            f"/staff/tasks/{task_id}/reschedule", {"at": "2026-06-04T14:30"}
        )
        assert refused.headers["location"] == f"/staff/tasks/{task_id}?problem=reason_required"
        page = await console.get(refused.headers["location"])
        assert 'id="reason" name="reason" maxlength="500" aria-invalid="true"' in page.text
        assert "putting off an urgent or high-priority call needs one" in page.text
        assert (await task_row(app, task_id)).next_attempt_at == before.next_attempt_at

        moved = await console.post(
            f"/staff/tasks/{task_id}/reschedule",
            {"at": "2026-06-04T14:30", "reason": "Visitor asked for Thursday"},
        )
        assert moved.headers["location"] == "/staff?notice=rescheduled"
        assert (await task_row(app, task_id)).reschedule_reason == "Visitor asked for Thursday"

    async def test_any_other_refusal_still_says_nothing_changed(
        self, app: FastAPI, console: Browser
    ) -> None:
        _, task_id = await seed_task(app)
        page = await console.get(f"/staff/tasks/{task_id}?problem=something_new")
        assert "This step was refused; nothing was changed." in page.text

    @pytest.mark.parametrize("at", ["2020-01-01T10:00", "tomorrow", ""])
    async def test_a_bad_time_is_shown_beside_its_field(
        self, app: FastAPI, console: Browser, at: str
    ) -> None:
        _, task_id = await seed_task(app)
        refused = await console.post(f"/staff/tasks/{task_id}/reschedule", {"at": at})
        page = await console.get(refused.headers["location"])
        assert 'aria-describedby="at-error"' in page.text
        assert 'id="at-error">Choose a time in the future' in page.text

    async def test_release_gives_the_call_back(self, app: FastAPI, console: Browser) -> None:
        _, task_id = await seed_task(app)
        await console.post("/staff/next")
        released = await console.post(f"/staff/tasks/{task_id}/release")
        assert released.headers["location"] == "/staff?notice=released"
        assert (await task_row(app, task_id)).status == "open"

    async def test_an_unknown_task_is_a_page_not_an_error(self, console: Browser) -> None:
        assert (await console.get("/staff/tasks/999999")).status_code == 404
        assert (await console.get("/staff/tasks/99999999999999999999")).status_code == 422


class TestInquiryLink:
    async def test_the_emails_link_opens_the_inquiry_with_its_task(
        self, app: FastAPI, console: Browser
    ) -> None:
        inquiry_id, task_id = await seed_task(app)
        reference = (await inquiry_row(app, inquiry_id)).reference
        page = await console.get(f"/staff/inquiries/{reference}")
        assert page.status_code == 200
        assert f'href="/staff/tasks/{task_id}"' in page.text
        assert "inquiry.read" in [a for a, _, _ in await audit_actions(app)]
        assert (await console.get("/staff/inquiries/INQ-ZZZZZZ")).status_code == 404


class TestLanguage:
    async def test_a_french_speaking_agent_gets_the_console_in_french(
        self, app: FastAPI, console: Browser, agent_with_password: StaffUser
    ) -> None:
        switched = await console.post("/staff/language", {"language": "fr", "next": "/staff"})
        assert switched.headers["location"] == "/staff"
        page = await console.get("/staff")
        assert '<html lang="fr">' in page.text
        assert "<h1>File de rappels</h1>" in page.text
        async with sessions(app)() as session:
            stored = await session.scalar(
                sa.select(staff_table.c.language).where(staff_table.c.id == agent_with_password.id)
            )
        assert stored == "fr"
        assert "staff.language" in [a for a, _, _ in await audit_actions(app)]
