"""My account: language, password change with the current password, sessions and tokens."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.models import token_table
from tests.console.fixtures import PASSWORD, Browser
from tests.staff.fixtures import StaffUser, audit_actions, sessions

pytestmark = pytest.mark.postgres
NEW_PASSWORD = "a violet tram hums past the lighthouse 77"


async def live_tokens(app: FastAPI, staff_id: int) -> int:
    async with sessions(app)() as session:
        query = sa.select(sa.func.count()).where(
            token_table.c.staff_id == staff_id, token_table.c.revoked_at.is_(None)
        )
        return int(await session.scalar(query) or 0)


@pytest.fixture
async def console(browser_client: Browser, agent_with_password: StaffUser) -> Browser:
    await browser_client.sign_in()
    return browser_client


async def second_browser(app: FastAPI) -> Browser:
    transport = httpx.ASGITransport(app=app)
    other = Browser(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
    await other.sign_in()
    return other


class TestMyAccount:
    async def test_the_page_lists_live_sessions_and_tokens(
        self, console: Browser, agent_with_password: StaffUser
    ) -> None:
        page = await console.get("/staff/account")
        assert page.status_code == 200
        assert "<h1>My account</h1>" in page.text
        # The test's API token and this console session.
        assert "API token" in page.text
        assert "(this one)" in page.text
        assert '<option value="en" lang="en" selected>' in page.text

    async def test_password_change_ends_the_other_sessions_and_keeps_this_one(
        self, app: FastAPI, console: Browser, agent_with_password: StaffUser
    ) -> None:
        other = await second_browser(app)
        changed = await console.post(
            "/staff/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/staff/account?notice=password_changed&revoked=2"
        assert (await console.get("/staff")).status_code == 200
        assert (await other.get("/staff")).headers["location"].startswith("/staff/login")
        assert await live_tokens(app, agent_with_password.id) == 1
        assert "staff.password_change" in [a for a, _, _ in await audit_actions(app)]
        await other.client.aclose()

    async def test_a_wrong_current_or_weak_new_password_changes_nothing(
        self, app: FastAPI, console: Browser, agent_with_password: StaffUser
    ) -> None:
        for form, problem in (
            ({"current_password": "nope", "new_password": NEW_PASSWORD}, "password_wrong"),
            ({"current_password": PASSWORD, "new_password": "short"}, "password_weak"),
            ({"current_password": "", "new_password": NEW_PASSWORD}, "password_missing"),
        ):
            answer = await console.post("/staff/account/password", form)
            assert answer.headers["location"] == f"/staff/account?problem={problem}"
        assert await live_tokens(app, agent_with_password.id) == 2
        page = await console.get("/staff/account?problem=password_wrong")
        assert "The current password is not right." in page.text
        assert 'aria-invalid="true" aria-describedby="account-problem"' in page.text
        assert "staff.password_wrong" in [a for a, _, _ in await audit_actions(app)]
        refused = await console.post(
            "/staff/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            csrf=False,
        )
        assert refused.status_code == 403

    async def test_sign_out_everywhere_ends_every_session_and_token(
        self, app: FastAPI, console: Browser, agent_with_password: StaffUser
    ) -> None:
        other = await second_browser(app)
        answer = await console.post("/staff/account/sign-out-everywhere")
        assert answer.headers["location"] == "/staff/login?lang=en"
        assert await live_tokens(app, agent_with_password.id) == 0
        for browser in (console, other):
            assert (await browser.get("/staff")).headers["location"].startswith("/staff/login")
        await other.client.aclose()

    async def test_the_language_chosen_here_is_kept(self, console: Browser) -> None:
        answer = await console.post("/staff/language", {"language": "fr", "next": "/staff/account"})
        assert answer.headers["location"] == "/staff/account"
        page = await console.get("/staff/account")
        assert "<h1>Mon compte</h1>" in page.text
