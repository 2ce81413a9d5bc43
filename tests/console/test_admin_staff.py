"""The admin Staff page: accounts changed through StaffService, audited as in the API."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.models import staff_table, token_table
from tests.console.fixtures import ADMIN_EMAIL, AGENT_EMAIL, Browser
from tests.staff.fixtures import StaffUser, audit_actions, sessions

pytestmark = pytest.mark.postgres


async def staff_row(app: FastAPI, email: str) -> sa.Row[tuple[object, ...]]:
    async with sessions(app)() as session:
        query = sa.select(staff_table).where(staff_table.c.email == email)
        return (await session.execute(query)).one()


def second_browser(first: Browser) -> Browser:
    """Another browser on the same app, with cookies of its own."""
    transport = first.client._transport
    return Browser(httpx.AsyncClient(transport=transport, base_url="http://testserver"))


def shown_password(page: str) -> str:
    found = re.search(r'<span class="secret" id="password">([^<]+)</span>', page)
    assert found, "no password shown"
    return found.group(1)


class TestAdminOnly:
    async def test_an_agent_is_refused_every_admin_page_and_nothing_changes(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        page = await browser_client.get("/staff/admin/staff")
        assert page.status_code == 403
        assert "This page is for admins." in page.text
        assert "Admin</a>" not in (await browser_client.get("/staff")).text
        added = await browser_client.post(
            "/staff/admin/staff", {"email": "new@ketaminetherapyclinic.ca", "role": "admin"}
        )
        assert added.status_code == 403
        made_admin = await browser_client.post(
            f"/staff/admin/staff/{agent_with_password.id}/role", {"role": "admin"}
        )
        assert made_admin.status_code == 403
        assert (await staff_row(app, AGENT_EMAIL)).role == "agent"
        assert not [a for a, _, _ in await audit_actions(app) if a.startswith("staff.")][1:]

    async def test_signed_out_goes_to_sign_in_and_back(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/staff/admin/staff")
        assert response.status_code == 303
        assert response.headers["location"] == "/staff/login?next=%2Fstaff%2Fadmin%2Fstaff"


class TestStaffPage:
    async def test_lists_accounts_with_role_and_state(
        self, admin_console: Browser, agent_with_password: StaffUser
    ) -> None:
        page = await admin_console.get("/staff/admin/staff")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert AGENT_EMAIL in page.text
        assert ADMIN_EMAIL in page.text
        assert '<a href="/staff/admin/staff" aria-current="page">Staff</a>' in page.text

    async def test_added_colleague_signs_in_with_the_password_shown_once(
        self, app: FastAPI, admin_console: Browser
    ) -> None:
        email = "samir@ketaminetherapyclinic.ca"
        answer = await admin_console.post(
            "/staff/admin/staff", {"email": f" {email.upper()} ", "name": "Samir", "role": "agent"}
        )
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        password = shown_password(answer.text)
        row = await staff_row(app, email)
        assert row.role == "agent"
        assert row.name == "Samir"
        assert password not in (await admin_console.get("/staff/admin/staff")).text
        assert password not in (await admin_console.get(f"/staff/admin/staff/{row.id}")).text
        admin_id = (await staff_row(app, ADMIN_EMAIL)).id
        assert ("staff.create", admin_id, str(row.id)) in await audit_actions(app)
        colleague = second_browser(admin_console)
        async with colleague.client:
            signed_in = await colleague.password_step(email, password)
            assert signed_in.status_code == 303

    async def test_existing_or_malformed_email_is_refused_with_what_was_typed(
        self, app: FastAPI, admin_console: Browser, agent_with_password: StaffUser
    ) -> None:
        taken = await admin_console.post(
            "/staff/admin/staff", {"email": AGENT_EMAIL, "name": "Twin", "role": "agent"}
        )
        assert taken.status_code == 409
        assert "A staff account with this email address exists." in taken.text
        assert 'value="Twin"' in taken.text
        bad = await admin_console.post(
            "/staff/admin/staff", {"email": "not an address", "role": "agent"}
        )
        assert bad.status_code == 422
        assert 'aria-invalid="true"' in bad.text
        bogus_role = await admin_console.post(
            "/staff/admin/staff", {"email": "x@ketaminetherapyclinic.ca", "role": "owner"}
        )
        assert bogus_role.status_code == 422
        async with sessions(app)() as session:
            assert await session.scalar(sa.select(sa.func.count()).select_from(staff_table)) == 2

    async def test_form_without_csrf_token_changes_nothing(
        self, app: FastAPI, admin_console: Browser, agent_with_password: StaffUser
    ) -> None:
        refused = await admin_console.post(
            f"/staff/admin/staff/{agent_with_password.id}/role", {"role": "admin"}, csrf=False
        )
        assert refused.status_code == 403
        forged = await admin_console.post(
            f"/staff/admin/staff/{agent_with_password.id}/role",
            {"role": "admin"},
            headers={"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403
        assert (await staff_row(app, AGENT_EMAIL)).role == "agent"

    async def test_change_role_disable_and_enable(
        self, app: FastAPI, admin_console: Browser, agent_with_password: StaffUser
    ) -> None:
        member = f"/staff/admin/staff/{agent_with_password.id}"
        promoted = await admin_console.post(f"{member}/role", {"role": "admin"})
        assert promoted.status_code == 303
        assert promoted.headers["location"] == f"{member}?notice=changed"
        assert (await staff_row(app, AGENT_EMAIL)).role == "admin"
        await admin_console.post(f"{member}/active", {"active": "false"})
        assert not (await staff_row(app, AGENT_EMAIL)).active
        async with sessions(app)() as session:
            live = sa.select(sa.func.count()).where(
                token_table.c.staff_id == agent_with_password.id, token_table.c.revoked_at.is_(None)
            )
            assert await session.scalar(live) == 0
        await admin_console.post(f"{member}/active", {"active": "true"})
        assert (await staff_row(app, AGENT_EMAIL)).active
        updates = [t for a, s, t in await audit_actions(app) if a == "staff.update" and s]
        assert updates == [str(agent_with_password.id)] * 3

    async def test_the_last_admin_is_neither_demoted_nor_disabled(
        self, app: FastAPI, admin_console: Browser, admin_with_password: StaffUser
    ) -> None:
        me = f"/staff/admin/staff/{admin_with_password.id}"
        for path, value in (
            (f"{me}/role", {"role": "agent"}),
            (f"{me}/active", {"active": "false"}),
        ):
            refused = await admin_console.post(path, value)
            assert refused.headers["location"] == f"{me}?problem=last_admin"
        row = await staff_row(app, ADMIN_EMAIL)
        assert (row.role, row.active) == ("admin", True)
        page = await admin_console.get(f"{me}?problem=last_admin")
        assert "The last active admin cannot be demoted or disabled." in page.text

    async def test_reset_password_shows_a_new_one_and_ends_the_sessions(
        self, app: FastAPI, admin_console: Browser, agent_with_password: StaffUser
    ) -> None:
        member = f"/staff/admin/staff/{agent_with_password.id}"
        await admin_console.get(member)
        answer = await admin_console.post(f"{member}/password")
        assert answer.status_code == 200
        password = shown_password(answer.text)
        async with sessions(app)() as session:
            live = sa.select(sa.func.count()).where(
                token_table.c.staff_id == agent_with_password.id, token_table.c.revoked_at.is_(None)
            )
            assert await session.scalar(live) == 0
        colleague = second_browser(admin_console)
        async with colleague.client:
            assert (await colleague.password_step(AGENT_EMAIL, password)).status_code == 303

    async def test_tokens_and_sessions_listed_and_revoked(
        self, app: FastAPI, admin_console: Browser, agent_with_password: StaffUser
    ) -> None:
        member = f"/staff/admin/staff/{agent_with_password.id}"
        page = await admin_console.get(member)
        token_ids = [int(found) for found in re.findall(r'data-token="(\d+)"', page.text)]
        assert len(token_ids) == 1
        assert "API token" in page.text
        revoked = await admin_console.post(f"/staff/admin/tokens/{token_ids[0]}/revoke")
        assert revoked.headers["location"] == f"{member}?notice=changed"
        assert "Revoked" in (await admin_console.get(member)).text
        assert "token.revoke" in [a for a, _, _ in await audit_actions(app)]
        missing = await admin_console.post("/staff/admin/tokens/999999/revoke")
        assert missing.headers["location"] == "/staff/admin/staff?problem=not_found"

    async def test_unknown_member_is_a_page_not_an_error(self, admin_console: Browser) -> None:
        assert (await admin_console.get("/staff/admin/staff/999999")).status_code == 404
        assert (await admin_console.get("/staff/admin/staff/0")).status_code == 422
