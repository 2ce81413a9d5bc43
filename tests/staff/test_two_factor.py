"""Two-factor sign-in for staff: enrolment, sign-in with a code, recovery codes, the policy."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.auth import authenticate, require_second_factor
from inquiry.config import Settings, TwoFactorPolicy
from inquiry.models import StaffRole, staff_table
from inquiry.staff.cli import run
from inquiry.staff.models import recovery_code_table
from tests.conftest import make_settings
from tests.migrations import differences, move
from tests.staff.fixtures import FakeClock, StaffUser, audit_actions, make_staff, staff_routes

S = "/api/v1/staff"
PASSWORD = "correct horse battery staple"
# What a session may do before the second factor its account requires.
BEFORE_SECOND_FACTOR = {
    ("GET", f"{S}/me"),
    ("DELETE", f"{S}/session"),
    ("POST", f"{S}/me/two-factor"),
    ("POST", f"{S}/me/two-factor/confirm"),
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, email: str, code: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"email": email, "password": PASSWORD}
    if code is not None:
        body["totp_code"] = code
    return await client.post(f"{S}/session", json=body)


async def session_of(client: httpx.AsyncClient, email: str, code: str | None = None) -> str:
    response = await sign_in(client, email, code)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def enrol(client: httpx.AsyncClient, token: str, clock: FakeClock) -> tuple[str, list[str]]:
    """Enrol an authenticator for the session's account; its secret and recovery codes."""
    started = await client.post(f"{S}/me/two-factor", headers=bearer(token))
    assert started.status_code == 201, started.text
    secret: str = started.json()["secret"]
    confirmed = await client.post(
        f"{S}/me/two-factor/confirm",
        json={"code": pyotp.TOTP(secret).at(clock.now)},
        headers=bearer(token),
    )
    assert confirmed.status_code == 200, confirmed.text
    codes: list[str] = confirmed.json()["recovery_codes"]
    return secret, codes


def code_at(secret: str, clock: FakeClock) -> str:
    return pyotp.TOTP(secret).at(clock.now)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, staff_require_2fa="admins")


@pytest.fixture
async def nurse(app: FastAPI, clock: FakeClock) -> StaffUser:
    return await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)


@pytest.fixture
async def boss(app: FastAPI, clock: FakeClock) -> StaffUser:
    return await make_staff(app, "boss@clinic.ca", StaffRole.ADMIN, password=PASSWORD)


class TestEnrolment:
    async def test_start_gives_the_secret_as_text_uri_and_qr_code(
        self, client: httpx.AsyncClient, nurse: StaffUser
    ) -> None:
        token = await session_of(client, nurse.email)
        response = await client.post(f"{S}/me/two-factor", headers=bearer(token))

        assert response.status_code == 201
        body = response.json()
        assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])
        assert body["otpauth_uri"] == pyotp.TOTP(body["secret"]).provisioning_uri(
            name="nurse@clinic.ca", issuer_name="Ketamine Therapy Clinic"
        )
        assert body["qr_svg"].startswith("<svg")
        assert "<title>QR code to scan with your authenticator app</title>" in body["qr_svg"]
        # Not on until a code confirms it.
        assert (await sign_in(client, nurse.email)).status_code == 201

    async def test_a_code_confirms_it_and_the_recovery_codes_are_shown_once_stored_hashed(
        self, app: FastAPI, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        token = await session_of(client, nurse.email)
        secret, codes = await enrol(client, token, clock)

        assert len(codes) == len(set(codes)) == 10
        assert all(re.fullmatch(r"([a-z2-7]{4}-){3}[a-z2-7]{4}", code) for code in codes)
        async with app.state.sessions() as session:
            stored = (await session.execute(sa.select(recovery_code_table))).all()
            enabled = await session.scalar(sa.select(staff_table.c.totp_secret))
        assert enabled == secret
        values = " ".join(str(value) for row in stored for value in row)
        assert not any(code in values or code.replace("-", "") in values for code in codes)
        me = await client.get(f"{S}/me", headers=bearer(token))
        assert me.json()["two_factor_enabled"] is True
        actions = [a for a, _, _ in await audit_actions(app)]
        assert {"two_factor.enrolment_start", "two_factor.enable"} <= set(actions)

    async def test_a_wrong_code_does_not_confirm(
        self, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        token = await session_of(client, nurse.email)
        started = await client.post(f"{S}/me/two-factor", headers=bearer(token))
        secret = started.json()["secret"]
        clock.advance(minutes=5)
        stale = pyotp.TOTP(secret).at(clock.now.timestamp() - 300)
        response = await client.post(
            f"{S}/me/two-factor/confirm", json={"code": stale}, headers=bearer(token)
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_two_factor_code"
        assert (await sign_in(client, nurse.email)).status_code == 201

    async def test_confirming_ends_the_accounts_other_sessions(
        self, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        here, elsewhere = (
            await session_of(client, nurse.email),
            await session_of(client, nurse.email),
        )
        await enrol(client, here, clock)
        assert (await client.get(f"{S}/me", headers=bearer(here))).status_code == 200
        assert (await client.get(f"{S}/me", headers=bearer(elsewhere))).status_code == 401
        assert (await client.get(f"{S}/me", headers=nurse.headers)).status_code == 200  # API

    async def test_replacing_a_second_factor_needs_a_session_that_passed_it(
        self, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        secret, _ = await enrol(client, await session_of(client, nurse.email), clock)
        refused = await client.post(f"{S}/me/two-factor", headers=nurse.headers)  # API token
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "session_required"
        clock.advance(seconds=30)
        passed = await session_of(client, nurse.email, code_at(secret, clock))
        again = await client.post(f"{S}/me/two-factor", headers=bearer(passed))
        assert again.status_code == 201


class TestSignIn:
    async def test_an_enrolled_account_needs_its_code(
        self, app: FastAPI, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        secret, _ = await enrol(client, await session_of(client, nurse.email), clock)
        clock.advance(seconds=30)

        missing = await sign_in(client, nurse.email)
        wrong = await sign_in(client, nurse.email, "000000")
        right = await sign_in(client, nurse.email, code_at(secret, clock))

        assert (missing.status_code, missing.json()["error"]["code"]) == (
            401,
            "two_factor_required",
        )
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (
            401,
            "invalid_two_factor_code",
        )
        assert right.status_code == 201
        assert right.json()["details"]["second_factor"] is True
        failed = [(a, t) for a, _, t in await audit_actions(app) if a == "session.failed"]
        assert failed == [("session.failed", str(nurse.id))]

    async def test_a_code_signs_in_once(
        self, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        secret, _ = await enrol(client, await session_of(client, nurse.email), clock)
        clock.advance(seconds=30)
        code = code_at(secret, clock)
        assert (await sign_in(client, nurse.email, code)).status_code == 201
        replayed = await sign_in(client, nurse.email, code)
        assert replayed.status_code == 401
        # The code the enrolment was confirmed with is spent too.
        clock.advance(seconds=30)
        assert (await sign_in(client, nurse.email, code_at(secret, clock))).status_code == 201

    async def test_a_phone_a_step_off_still_signs_in(
        self, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        secret, _ = await enrol(client, await session_of(client, nurse.email), clock)
        clock.advance(minutes=2)
        behind = pyotp.TOTP(secret).at(clock.now, counter_offset=-1)
        assert (await sign_in(client, nurse.email, behind)).status_code == 201
        clock.advance(minutes=2)
        too_far = pyotp.TOTP(secret).at(clock.now, counter_offset=-3)
        assert (await sign_in(client, nurse.email, too_far)).status_code == 401

    async def test_a_recovery_code_signs_in_once_in_place_of_the_app(
        self, app: FastAPI, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        _, codes = await enrol(client, await session_of(client, nurse.email), clock)

        first = await sign_in(client, nurse.email, codes[3].upper().replace("-", " "))
        again = await sign_in(client, nurse.email, codes[3])

        assert first.status_code == 201
        assert first.json()["details"]["second_factor"] is True
        assert again.status_code == 401
        actions = [a for a, _, _ in await audit_actions(app)]
        assert "two_factor.recovery_code_use" in actions

    async def test_wrong_codes_are_throttled_like_passwords(
        self, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        secret, _ = await enrol(client, await session_of(client, nurse.email), clock)
        clock.advance(seconds=30)
        answers = [await sign_in(client, nurse.email, "000000") for _ in range(5)]
        throttled = await sign_in(client, nurse.email, code_at(secret, clock))
        assert [a.status_code for a in answers] == [401] * 5
        assert (throttled.status_code, throttled.json()["error"]["code"]) == (
            429,
            "login_throttled",
        )

    async def test_new_recovery_codes_replace_the_old(
        self, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        token = await session_of(client, nurse.email)
        _, old = await enrol(client, token, clock)
        response = await client.post(f"{S}/me/two-factor/recovery-codes", headers=bearer(token))
        new = response.json()["recovery_codes"]
        assert response.status_code == 200
        assert len(new) == 10
        assert (await sign_in(client, nurse.email, old[0])).status_code == 401
        assert (await sign_in(client, nurse.email, new[0])).status_code == 201


class TestPolicy:
    async def test_an_admin_must_enrol_before_doing_anything_else(
        self, client: httpx.AsyncClient, boss: StaffUser, clock: FakeClock
    ) -> None:
        signed_in = await sign_in(client, boss.email)
        assert signed_in.status_code == 201
        assert signed_in.json()["two_factor_enrolment_required"] is True
        token = signed_in.json()["token"]

        assert (await client.get(f"{S}/me", headers=bearer(token))).status_code == 200
        refused = await client.get(f"{S}/audit", headers=bearer(token))
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            403,
            "two_factor_enrolment_required",
        )
        await enrol(client, token, clock)
        assert (await client.get(f"{S}/audit", headers=bearer(token))).status_code == 200

    async def test_under_admins_an_agent_signs_in_with_a_password(
        self, client: httpx.AsyncClient, nurse: StaffUser
    ) -> None:
        signed_in = await sign_in(client, nurse.email)
        assert signed_in.json()["two_factor_enrolment_required"] is False
        token = signed_in.json()["token"]
        assert (await client.get(f"{S}/callbacks", headers=bearer(token))).status_code == 200

    async def test_api_tokens_are_exempt_but_cannot_mint_tokens(
        self, client: httpx.AsyncClient, boss: StaffUser, nurse: StaffUser, clock: FakeClock
    ) -> None:
        assert (await client.get(f"{S}/audit", headers=boss.headers)).status_code == 200
        path = f"{S}/accounts/{nurse.id}/tokens"
        by_token = await client.post(path, json={}, headers=boss.headers)
        assert (by_token.status_code, by_token.json()["error"]["code"]) == (
            403,
            "session_required",
        )
        session = await session_of(client, boss.email)
        await enrol(client, session, clock)
        assert (await client.post(path, json={}, headers=bearer(session))).status_code == 201

    async def test_with_all_every_account_must_enrol(
        self, database_url: str, tmp_path: Path
    ) -> None:
        from inquiry.app import create_app

        app = create_app(make_settings(database_url, tmp_path, staff_require_2fa="all"))
        async with app.router.lifespan_context(app):
            await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                token = await session_of(client, "nurse@clinic.ca")
                refused = await client.get(f"{S}/callbacks", headers=bearer(token))
        assert refused.status_code == 403

    def test_the_default_is_admins_in_production_and_off_in_development(self) -> None:
        production = Settings(_env_file=None, environment="production", secret_key="k" * 40)
        assert production.staff_require_2fa is TwoFactorPolicy.ADMINS
        assert Settings(_env_file=None).staff_require_2fa is TwoFactorPolicy.OFF
        chosen = Settings(
            _env_file=None, environment="production", secret_key="k" * 40, staff_require_2fa="all"
        )
        assert chosen.staff_require_2fa is TwoFactorPolicy.ALL

    def test_every_staff_route_but_enrolment_requires_the_second_factor(self, app: FastAPI) -> None:
        routes = staff_routes(app)
        open_before = {
            (m, p)
            for m, p, calls in routes
            if authenticate in calls and require_second_factor not in calls
        }
        assert open_before == BEFORE_SECOND_FACTOR


class TestReset:
    async def test_an_admin_removes_a_lost_second_factor(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        nurse: StaffUser,
        boss: StaffUser,
        clock: FakeClock,
    ) -> None:
        session = await session_of(client, nurse.email)
        await enrol(client, session, clock)
        admin_session = await session_of(client, boss.email)
        await enrol(client, admin_session, clock)

        reset = await client.delete(
            f"{S}/accounts/{nurse.id}/two-factor", headers=bearer(admin_session)
        )

        assert reset.status_code == 200
        assert reset.json()["two_factor_enabled"] is False
        assert (await client.get(f"{S}/me", headers=bearer(session))).status_code == 401
        assert (await sign_in(client, nurse.email)).status_code == 201
        assert ("two_factor.reset", boss.id, str(nurse.id)) in await audit_actions(app)

    async def test_the_command_line_removes_one_too(
        self, app: FastAPI, client: httpx.AsyncClient, nurse: StaffUser, clock: FakeClock
    ) -> None:
        await enrol(client, await session_of(client, nurse.email), clock)
        settings: Settings = app.state.settings
        out = io.StringIO()
        argv = ["two-factor-reset", nurse.email]
        assert await asyncio.to_thread(run, argv, io.StringIO(), out, settings) == 0
        assert out.getvalue().startswith("two-factor sign-in of nurse@clinic.ca removed")
        assert (await sign_in(client, nurse.email)).status_code == 201


class TestMigration:
    async def test_0006_down_and_up_keeps_accounts_and_tokens(
        self, app: FastAPI, client: httpx.AsyncClient, nurse: StaffUser, engine: AsyncEngine
    ) -> None:
        async with engine.begin() as connection:
            await connection.run_sync(move, "downgrade", "0005")
            await connection.run_sync(move, "upgrade", "head")
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
        me = await client.get(f"{S}/me", headers=nurse.headers)
        assert (me.status_code, me.json()["two_factor_enabled"]) == (200, False)
