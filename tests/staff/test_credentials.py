"""Credentials that end: token lifetimes, guessable passwords refused, revocation on changes."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.app import create_app
from inquiry.config import Settings
from inquiry.models import ApiToken, StaffRole
from inquiry.staff.cli import run
from tests.conftest import make_settings
from tests.staff.fixtures import FakeClock, StaffUser, audit_actions, make_staff

S = "/api/v1/staff"
PASSWORD = "correct horse battery staple"
GUESSABLE = ["Password1234!", "qwertyuiopasdfgh", "123456789012", "nurse@clinic.ca1"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestTokenLifetime:
    async def test_an_api_token_expires_after_90_days_by_default(
        self, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser, clock: FakeClock
    ) -> None:
        minted = await client.post(
            f"{S}/accounts/{agent.id}/tokens", json={"label": "script"}, headers=admin.headers
        )
        assert minted.status_code == 201
        assert minted.json()["details"]["expires_at"] == "2026-09-01T14:00:00Z"
        token = bearer(minted.json()["token"])
        clock.advance(days=89, hours=23)
        assert (await client.get(f"{S}/me", headers=token)).status_code == 200
        clock.advance(hours=1)
        assert (await client.get(f"{S}/me", headers=token)).status_code == 401

    async def test_a_token_without_expiry_must_be_asked_for(
        self, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        minted = await client.post(
            f"{S}/accounts/{agent.id}/tokens", json={"no_expiry": True}, headers=admin.headers
        )
        assert minted.status_code == 201
        assert minted.json()["details"]["expires_at"] is None
        both = await client.post(
            f"{S}/accounts/{agent.id}/tokens",
            json={"no_expiry": True, "expires_in_days": 5},
            headers=admin.headers,
        )
        assert both.status_code == 422

    async def test_the_default_lifetime_is_a_setting(
        self, database_url: str, tmp_path: Path
    ) -> None:
        app = create_app(make_settings(database_url, tmp_path, staff_token_days=7))
        async with app.router.lifespan_context(app):
            await make_staff(app, "a@clinic.ca", StaffRole.AGENT)
            async with app.state.sessions() as session:
                token = (await session.scalars(sa.select(ApiToken))).one()
        assert token.expires_at is not None
        assert token.expires_at - token.created_at == timedelta(days=7)


def staff_cli(settings: Settings, *argv: str, stdin: str = "") -> str:
    out = io.StringIO()
    assert run(list(argv), io.StringIO(stdin), out, settings) == 0
    return out.getvalue()


@pytest.fixture
def cli_settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")


class TestTokenLifetimeOnTheCommandLine:
    def test_tokens_expire_unless_no_expiry_is_given(self, cli_settings: Settings) -> None:
        staff_cli(cli_settings, "add", "ops@clinic.ca", "--role", "admin", "--no-password")
        staff_cli(cli_settings, "token", "ops@clinic.ca")
        staff_cli(cli_settings, "token", "ops@clinic.ca", "--no-expiry")
        listed = staff_cli(cli_settings, "tokens", "ops@clinic.ca").splitlines()
        assert listed[0].endswith("\tno expiry")  # newest first
        assert "\texpires 20" in listed[1]

    def test_an_expiry_and_no_expiry_together_are_refused(self, cli_settings: Settings) -> None:
        with pytest.raises(SystemExit):
            staff_cli(cli_settings, "token", "x@clinic.ca", "--no-expiry", "--expires-days", "3")


class TestGuessablePasswords:
    @pytest.mark.parametrize("password", GUESSABLE)
    async def test_a_guessable_password_is_refused_for_a_new_account(
        self, client: httpx.AsyncClient, admin: StaffUser, password: str
    ) -> None:
        response = await client.post(
            f"{S}/accounts",
            json={"email": "nurse@clinic.ca", "role": "agent", "password": password},
            headers=admin.headers,
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_password"
        assert "to guess" in error["message"]

    async def test_a_guessable_password_is_refused_on_a_reset(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        user = await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        response = await client.patch(
            f"{S}/accounts/{user.id}", json={"password": "Password1234!"}, headers=admin.headers
        )
        assert (response.status_code, response.json()["error"]["code"]) == (
            422,
            "invalid_password",
        )

    def test_the_command_line_refuses_one_too(self, cli_settings: Settings) -> None:
        with pytest.raises(SystemExit, match="to guess"):
            staff_cli(
                cli_settings, "add", "a@clinic.ca", "--password-stdin", stdin="qwertyuiop12\n"
            )

    async def test_a_long_phrase_is_welcome(
        self, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        response = await client.post(
            f"{S}/accounts",
            json={"email": "nurse@clinic.ca", "role": "agent", "password": PASSWORD},
            headers=admin.headers,
        )
        assert response.status_code == 201


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post(f"{S}/session", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def status_of(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get(f"{S}/me", headers=bearer(token))).status_code


class TestRevocation:
    async def test_a_password_reset_ends_every_session_and_token(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        user = await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        session = await sign_in(client, user.email)

        reset = await client.patch(
            f"{S}/accounts/{user.id}",
            json={"password": "a new phrase nobody guessed"},
            headers=admin.headers,
        )

        assert reset.status_code == 200
        assert await status_of(client, session) == 401
        assert await status_of(client, user.token) == 401
        assert await status_of(client, admin.token) == 200  # the admin's own are untouched
        assert (
            await status_of(
                client, await sign_in(client, user.email, "a new phrase nobody guessed")
            )
            == 200
        )

    async def test_disabling_revokes_and_enabling_again_revives_nothing(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        user = await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        session = await sign_in(client, user.email)
        for active in (False, True):
            response = await client.patch(
                f"{S}/accounts/{user.id}", json={"active": active}, headers=admin.headers
            )
            assert response.status_code == 200

        assert await status_of(client, session) == 401
        assert await status_of(client, user.token) == 401
        listed = await client.get(f"{S}/accounts/{user.id}/tokens", headers=admin.headers)
        assert all(token["revoked_at"] for token in listed.json())
        assert await status_of(client, await sign_in(client, user.email)) == 200

    async def test_changing_your_own_password_keeps_only_this_session(
        self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        user = await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        here, elsewhere = await sign_in(client, user.email), await sign_in(client, user.email)

        changed = await client.post(
            f"{S}/me/password",
            json={"current_password": PASSWORD, "new_password": "a new phrase nobody guessed"},
            headers=bearer(here),
        )

        assert changed.status_code == 204
        assert await status_of(client, here) == 200
        assert await status_of(client, elsewhere) == 401
        assert await status_of(client, user.token) == 401
        refused = await client.post(
            f"{S}/session", json={"email": user.email, "password": PASSWORD}
        )
        assert refused.status_code == 401

    async def test_a_wrong_current_password_changes_nothing_and_is_throttled(
        self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        user = await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        session = await sign_in(client, user.email)
        body = {"current_password": "a guess", "new_password": "a new phrase nobody guessed"}
        answers = [
            await client.post(f"{S}/me/password", json=body, headers=bearer(session))
            for _ in range(6)
        ]
        assert [a.status_code for a in answers] == [403] * 5 + [429]
        assert answers[0].json()["error"]["code"] == "wrong_password"
        assert await status_of(client, user.token) == 200
        actions = [a for a, _, _ in await audit_actions(app)]
        assert actions.count("staff.password_wrong") == 5

    def test_a_reset_on_the_command_line_revokes_too(self, cli_settings: Settings) -> None:
        staff_cli(cli_settings, "add", "ops@clinic.ca", "--role", "admin", "--no-password")
        staff_cli(cli_settings, "token", "ops@clinic.ca")
        staff_cli(
            cli_settings,
            "passwd",
            "ops@clinic.ca",
            "--password-stdin",
            stdin="a new phrase nobody guessed\n",
        )
        assert "\trevoked\t" in staff_cli(cli_settings, "tokens", "ops@clinic.ca")
