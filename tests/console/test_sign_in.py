"""Signing in to the console and out: the cookie, CSRF, throttling, idle time, two factors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.config import Settings
from inquiry.models import StaffRole, token_table
from tests.conftest import make_settings
from tests.console.fixtures import AGENT_EMAIL, PASSWORD, Browser, hidden
from tests.staff.fixtures import FakeClock, StaffUser, audit_actions, make_staff, sessions

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, staff_login_refusal_delay_seconds=0)


async def live_sessions(app: FastAPI) -> int:
    async with sessions(app)() as session:
        found = await session.scalar(
            sa.select(sa.func.count())
            .select_from(token_table)
            .where(token_table.c.kind == "session", token_table.c.revoked_at.is_(None))
        )
        return int(found or 0)


class TestSignIn:
    async def test_a_signed_out_visit_goes_to_sign_in_and_comes_back(
        self, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        response = await browser_client.get("/staff/inquiries/INQ-ABC123?x=1")
        assert response.status_code == 303
        location = response.headers["location"]
        assert urlsplit(location).path == "/staff/login"
        assert parse_qs(urlsplit(location).query)["next"] == ["/staff/inquiries/INQ-ABC123?x=1"]

        signed_in = await browser_client.password_step(next_path="/staff/inquiries/INQ-ABC123")
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/staff/inquiries/INQ-ABC123"

    @pytest.mark.parametrize(
        "target", ["https://evil.example/", "//evil.example/staff", "/staff/../api", "/elsewhere"]
    )
    async def test_going_back_never_leaves_the_console(
        self, browser_client: Browser, agent_with_password: StaffUser, target: str
    ) -> None:
        signed_in = await browser_client.password_step(next_path=target)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/staff"

    async def test_the_cookie_is_http_only_same_site_and_scoped_to_the_console(
        self, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        response = await browser_client.password_step()
        cookie = response.headers["set-cookie"].lower()
        assert cookie.startswith("inquiry_session=inqs_")
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "path=/staff" in cookie
        assert "secure" not in cookie  # http://testserver: a browser would drop a Secure one
        assert response.headers["cache-control"] == "no-store"

    async def test_a_wrong_password_says_so_without_saying_which(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        wrong = await browser_client.password_step(password="not the password at all")
        unknown = await browser_client.password_step(email="nobody@ketaminetherapyclinic.ca")
        for response in (wrong, unknown):
            assert response.status_code == 401
            assert "The email or password is not right." in response.text
            assert "set-cookie" not in response.headers
        assert [a for a, _, _ in await audit_actions(app)].count("session.failed") == 2

    async def test_failures_are_throttled_as_in_the_api(
        self, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        for _ in range(5):
            assert (await browser_client.password_step(password="wrong")).status_code == 401
        refused = await browser_client.password_step()
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.text
        assert "retry-after" in refused.headers

    async def test_a_sign_in_form_from_another_origin_is_refused(
        self, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        page = await browser_client.get("/staff/login")
        response = await browser_client.post(
            "/staff/login",
            {
                "email": AGENT_EMAIL,
                "password": PASSWORD,
                "form_token": hidden(page.text, "form_token"),
            },
            csrf=False,
            headers={"Origin": "https://evil.example"},
        )
        assert response.status_code == 403
        assert "set-cookie" not in response.headers

    async def test_the_cookie_signs_in_to_the_console_only(
        self, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        token = browser_client.client.cookies["inquiry_session"]
        api = await browser_client.client.get(
            "/api/v1/staff/me", headers={"Cookie": f"inquiry_session={token}"}
        )
        assert api.status_code == 401
        console = await browser_client.client.get(
            "/staff/queue/version", headers={"Cookie": f"inquiry_session={token}"}
        )
        assert console.status_code == 200


class TestSignOut:
    async def test_sign_out_ends_the_session_on_the_server(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        token = browser_client.client.cookies["inquiry_session"]
        response = await browser_client.post("/staff/logout")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/staff/login")
        assert await live_sessions(app) == 0
        browser_client.client.cookies.set("inquiry_session", token, path="/staff")
        again = await browser_client.get("/staff")
        assert again.status_code == 303
        assert "session.revoke" in [a for a, _, _ in await audit_actions(app)]

    async def test_a_post_without_the_csrf_token_is_refused(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        refused = await browser_client.post("/staff/logout", csrf=False)
        assert refused.status_code == 403
        assert "This form could not be accepted" in refused.text
        forged = await browser_client.post("/staff/logout", {"csrf_token": "0" * 40})
        assert forged.status_code == 403
        assert await live_sessions(app) == 1

    async def test_a_post_from_another_origin_is_refused_even_with_the_token(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        refused = await browser_client.post(
            "/staff/logout", headers={"Origin": "https://www.ketaminetherapyclinic.ca"}
        )
        assert refused.status_code == 403
        assert await live_sessions(app) == 1

    async def test_a_session_left_idle_ends(
        self, browser_client: Browser, agent_with_password: StaffUser, clock: FakeClock
    ) -> None:
        await browser_client.sign_in()
        clock.advance(minutes=25)
        assert (await browser_client.get("/staff")).status_code == 200  # still in use
        clock.advance(minutes=25)
        assert (await browser_client.get("/staff")).status_code == 200
        clock.advance(minutes=32)
        assert (await browser_client.get("/staff")).status_code == 303

    async def test_the_queue_keeping_itself_up_to_date_does_not_keep_a_session_alive(
        self, browser_client: Browser, agent_with_password: StaffUser, clock: FakeClock
    ) -> None:
        await browser_client.sign_in()
        passive = {"X-Console-Passive": "1"}
        for _ in range(2):
            clock.advance(minutes=14)
            polled = await browser_client.get("/staff/queue/version", headers=passive)
            assert polled.status_code == 200
        clock.advance(minutes=6)  # 34 minutes since the person last did anything
        assert (
            await browser_client.get("/staff/queue/version", headers=passive)
        ).status_code == 303


class TestTwoFactor:
    async def enrol(self, browser: Browser, clock: FakeClock) -> str:
        page = await browser.post("/staff/account/two-factor")
        assert page.status_code == 200, page.text
        secret = page.text.split('id="secret">', 1)[1].split("<", 1)[0]
        confirmed = await browser.post(
            "/staff/account/two-factor/confirm", {"code": pyotp.TOTP(secret).at(clock.now)}
        )
        assert confirmed.status_code == 200, confirmed.text
        assert "Your recovery codes" in confirmed.text
        return secret

    async def test_enrolment_then_sign_in_asks_for_the_code(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser,
        clock: FakeClock,
    ) -> None:  # fmt: skip
        await browser_client.sign_in()
        secret = await self.enrol(browser_client, clock)
        await browser_client.post("/staff/logout")

        step = await browser_client.password_step()
        assert step.status_code == 200
        assert "Code from your authenticator app" in step.text
        assert "set-cookie" not in step.headers
        ticket = hidden(step.text, "ticket")

        wrong = await browser_client.post(
            "/staff/login/code", {"ticket": ticket, "code": "000000", "next": "/staff"}, csrf=False
        )
        assert wrong.status_code == 401
        assert 'aria-describedby="code-hint code-error"' in wrong.text

        clock.advance(seconds=30)
        code = pyotp.TOTP(secret).at(clock.now)
        right = await browser_client.post(
            "/staff/login/code", {"ticket": ticket, "code": code, "next": "/staff"}, csrf=False
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/staff"
        assert (await browser_client.get("/staff")).status_code == 200
        actions = [a for a, _, _ in await audit_actions(app)]
        assert {"two_factor.enrolment_start", "two_factor.enable"} <= set(actions)
        assert actions.count("session.failed") == 1

    async def test_a_ticket_is_no_use_after_a_password_change(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser,
        clock: FakeClock,
    ) -> None:  # fmt: skip
        await browser_client.sign_in()
        secret = await self.enrol(browser_client, clock)
        await browser_client.post("/staff/logout")
        ticket = hidden((await browser_client.password_step()).text, "ticket")
        async with sessions(app)() as session, session.begin():
            await session.execute(
                sa.update(token_table.metadata.tables["staff"]).values(password_hash="changed")
            )
        clock.advance(seconds=30)
        code = pyotp.TOTP(secret).at(clock.now)
        refused = await browser_client.post(
            "/staff/login/code", {"ticket": ticket, "code": code}, csrf=False
        )
        assert refused.status_code == 403
        assert "set-cookie" not in refused.headers


class TestOverHttps:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(
            database_url, tmp_path, public_base_url="https://inquiry.ketaminetherapyclinic.ca"
        )

    async def test_the_cookie_is_secure_when_the_service_is_served_over_https(
        self, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        response = await browser_client.password_step()
        assert response.status_code == 303
        assert "secure" in response.headers["set-cookie"].lower()


class TestBadInput:
    @pytest.mark.parametrize(
        ("path", "content", "content_type"),
        [
            ("/staff/login", b'{"email": "a@b.c"}', "application/json"),
            ("/staff/login", b"email=\xff\xfe&password=%ff", "application/x-www-form-urlencoded"),
            ("/staff/login/code", b"ticket=1-abc&code=123456", "application/x-www-form-urlencoded"),
            ("/staff/login/code", b"", "application/x-www-form-urlencoded"),
            ("/staff/login", b"--x\r\n", "multipart/form-data; boundary=x"),
        ],
    )
    async def test_a_malformed_sign_in_is_refused_with_a_page(
        self, browser_client: Browser, path: str, content: bytes, content_type: str
    ) -> None:
        response = await browser_client.client.post(
            path, content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code in (400, 403)
        assert "set-cookie" not in response.headers

    async def test_malformed_console_posts_change_nothing(
        self, app: FastAPI, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        for path in ("/staff/next", "/staff/tasks/1/attempt", "/staff/language"):
            response = await browser_client.client.post(
                path, content=b"\xff\x00", headers={"Content-Type": "text/plain"}
            )
            assert response.status_code == 403
        assert await live_sessions(app) == 1


@pytest.fixture
def strict_settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, staff_require_2fa="all")


class TestEnrolmentRequired:
    @pytest.fixture
    def settings(self, strict_settings: Settings) -> Settings:
        return strict_settings

    async def test_an_account_that_must_enrol_is_sent_to_enrol_first(
        self, app: FastAPI, browser_client: Browser, clock: FakeClock
    ) -> None:
        await make_staff(app, AGENT_EMAIL, StaffRole.AGENT, password=PASSWORD)
        signed_in = await browser_client.password_step()
        assert signed_in.headers["location"] == "/staff/account/two-factor"
        queue = await browser_client.get("/staff")
        assert queue.status_code == 303
        assert queue.headers["location"] == "/staff/account/two-factor"
        page = await browser_client.get("/staff/account/two-factor")
        assert "must use two-factor sign-in" in page.text
        secret = await TestTwoFactor().enrol(browser_client, clock)
        assert secret
        assert (await browser_client.get("/staff")).status_code == 200
