"""The admin Mail page: backlog counts, failed messages, retrying them (audited)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.models import OutboxMessage, OutboxStatus, as_utc, inquiry_table, outbox_table
from tests.console.fixtures import Browser
from tests.staff.fixtures import FakeClock, StaffUser, audit_actions, seed_task, sessions

pytestmark = pytest.mark.postgres
_numbers = itertools.count(1)


async def add_message(
    app: FastAPI, inquiry_id: int, status: OutboxStatus, *, error: str | None = None
) -> int:
    now = app.state.clock()
    async with sessions(app)() as session, session.begin():
        message = OutboxMessage(
            inquiry_id=inquiry_id,
            kind="admin_notification",
            recipient="inbox@ketaminetherapyclinic.ca",
            message_id=f"<{next(_numbers)}@test>",
            status=status.value,
            attempts=3 if status is OutboxStatus.DEAD else 0,
            next_attempt_at=now,
            last_error=error,
            created_at=now - timedelta(hours=2),
        )
        session.add(message)
        await session.flush()
        assert message.id is not None
        return message.id


async def statuses(app: FastAPI) -> dict[int, str]:
    async with sessions(app)() as session:
        rows = await session.execute(sa.select(outbox_table.c.id, outbox_table.c.status))
        return {row.id: row.status for row in rows}


async def reference_of(app: FastAPI, inquiry_id: int) -> str:
    async with sessions(app)() as session:
        query = sa.select(inquiry_table.c.reference).where(inquiry_table.c.id == inquiry_id)
        return str(await session.scalar(query))


class TestMailPage:
    async def test_counts_oldest_waiting_and_failed_messages_with_their_error(
        self, app: FastAPI, admin_console: Browser, clock: FakeClock
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        await add_message(app, inquiry_id, OutboxStatus.PENDING)
        dead = await add_message(app, inquiry_id, OutboxStatus.DEAD, error="550 <mailbox> unknown")
        page = await admin_console.get("/staff/admin/mail")
        assert page.status_code == 200
        assert '<dd data-status="pending">1</dd>' in page.text
        assert '<dd data-status="dead">1</dd>' in page.text
        assert "queued 2 h" in page.text
        assert f'data-message="{dead}"' in page.text
        assert "550 &lt;mailbox&gt; unknown" in page.text  # escaped

    async def test_retry_one_queues_it_again_and_is_audited(
        self, app: FastAPI, admin_console: Browser, admin_with_password: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        first = await add_message(app, inquiry_id, OutboxStatus.DEAD, error="boom")
        second = await add_message(app, inquiry_id, OutboxStatus.DEAD, error="boom")
        await admin_console.get("/staff/admin/mail")
        answer = await admin_console.post("/staff/admin/mail/retry", {"id": str(first)})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/staff/admin/mail?retried=1"
        assert (await statuses(app))[first] == "pending"
        assert (await statuses(app))[second] == "dead"
        async with sessions(app)() as session:
            query = sa.select(outbox_table.c.created_at).where(outbox_table.c.id == first)
            queued = await session.scalar(query)
            assert queued is not None
            assert as_utc(queued) == app.state.clock()
        assert ("outbox.retry", admin_with_password.id, None) in await audit_actions(app)
        page = await admin_console.get(answer.headers["location"])
        assert "Messages queued again: 1." in page.text

    async def test_bulk_retry_of_the_selected_or_of_every_failed_message(
        self, app: FastAPI, admin_console: Browser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        ids = [await add_message(app, inquiry_id, OutboxStatus.DEAD) for _ in range(3)]
        sent = await add_message(app, inquiry_id, OutboxStatus.SENT)
        await admin_console.get("/staff/admin/mail")
        selected = await admin_console.client.post(
            "/staff/admin/mail/retry",
            data={"csrf_token": admin_console.csrf, "selected": [str(ids[0]), str(sent)]},
        )
        assert selected.headers["location"] == "/staff/admin/mail?retried=1"
        every = await admin_console.post("/staff/admin/mail/retry", {"all": "1"})
        assert every.headers["location"] == "/staff/admin/mail?retried=2"
        assert await statuses(app) == {**dict.fromkeys(ids, "pending"), sent: "sent"}
        nothing = await admin_console.post("/staff/admin/mail/retry", {"selected": "x"})
        assert nothing.headers["location"] == "/staff/admin/mail?retried=0"

    async def test_a_form_without_its_token_is_refused(
        self, app: FastAPI, admin_console: Browser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        dead = await add_message(app, inquiry_id, OutboxStatus.DEAD)
        refused = await admin_console.post("/staff/admin/mail/retry", {"all": "1"}, csrf=False)
        assert refused.status_code == 403
        assert (await statuses(app))[dead] == "dead"

    async def test_an_inquirys_mail_history_is_shown_and_audited(
        self, app: FastAPI, admin_console: Browser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        await add_message(app, inquiry_id, OutboxStatus.SENT)
        reference = await reference_of(app, inquiry_id)
        page = await admin_console.get(f"/staff/admin/mail?reference={reference.lower()}")
        assert page.status_code == 200
        assert "admin_notification</td><td>Sent" in page.text
        assert "outbox.history" in [a for a, _, _ in await audit_actions(app)]
        bad = await admin_console.get("/staff/admin/mail?reference=<script>")
        assert bad.status_code == 422
        assert "<script>" not in bad.text


class TestMailRefusal:
    async def test_an_agent_cannot_see_or_retry(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        dead = await add_message(app, inquiry_id, OutboxStatus.DEAD)
        await browser_client.sign_in()
        assert (await browser_client.get("/staff/admin/mail")).status_code == 403
        retried = await browser_client.post("/staff/admin/mail/retry", {"all": "1"})
        assert retried.status_code == 403
        assert (await statuses(app))[dead] == "dead"
