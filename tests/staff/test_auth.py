"""No staff route without a valid token, no admin route for an agent: proved on the route table."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.auth import authenticate, digest, require_admin
from inquiry.models import StaffRole, token_table
from tests.staff.fixtures import FakeClock, StaffUser, make_staff, staff_routes

PREFIX = "/api/v1/staff"
OPEN_ROUTES = {("POST", f"{PREFIX}/session")}  # signing in is how a token is obtained
ADMIN_ROUTES = {
    ("GET", f"{PREFIX}/accounts"),
    ("POST", f"{PREFIX}/accounts"),
    ("PATCH", f"{PREFIX}/accounts/{{staff_id}}"),
    ("GET", f"{PREFIX}/accounts/{{staff_id}}/tokens"),
    ("POST", f"{PREFIX}/accounts/{{staff_id}}/tokens"),
    ("DELETE", f"{PREFIX}/accounts/{{staff_id}}/two-factor"),
    ("DELETE", f"{PREFIX}/tokens/{{token_id}}"),
    ("GET", f"{PREFIX}/audit"),
    ("GET", f"{PREFIX}/exports/inquiries.csv"),
    ("POST", f"{PREFIX}/callbacks/{{task_id}}/reassign"),
    ("POST", f"{PREFIX}/callbacks/{{task_id}}/decision"),
}


def _url(path: str) -> str:
    return path.replace("{staff_id}", "1").replace("{token_id}", "999").replace("{task_id}", "1")


def _body(method: str) -> dict[str, Any] | None:
    return {} if method in {"POST", "PATCH"} else None


async def _call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(method, _url(path), json=_body(method), headers=headers)


class TestRouteTable:
    def test_every_staff_route_but_sign_in_requires_a_token(self, app: FastAPI) -> None:
        routes = staff_routes(app)
        assert len(routes) >= 20
        unguarded = {(m, p) for m, p, calls in routes if authenticate not in calls}
        assert unguarded == OPEN_ROUTES

    def test_admin_routes_are_exactly_the_expected_ones(self, app: FastAPI) -> None:
        admin_only = {(m, p) for m, p, calls in staff_routes(app) if require_admin in calls}
        assert admin_only == ADMIN_ROUTES

    async def test_every_guarded_route_answers_401_without_credentials(
        self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        for method, path, _ in staff_routes(app):
            if (method, path) in OPEN_ROUTES:
                continue
            for headers in (
                {},
                {"Authorization": "Bearer inqs_not-a-real-token"},
                {"Authorization": "Basic YWRtaW46YWRtaW4="},
            ):
                response = await _call(client, method, path, headers)
                assert response.status_code == 401, (method, path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json()["error"]["code"] == "not_authenticated"

    async def test_an_agent_gets_403_on_every_admin_route_and_in_on_every_other(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        for method, path, _ in staff_routes(app):
            if path.endswith("/session"):
                continue  # signing in is open; signing out would end this test's token
            response = await _call(client, method, path, agent.headers)
            if (method, path) in ADMIN_ROUTES:
                assert response.status_code == 403, (method, path)
                assert response.json()["error"]["code"] == "forbidden"
            else:
                assert response.status_code not in (401, 403), (method, path, response.text)

    async def test_an_admin_gets_in_everywhere(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        for method, path, _ in staff_routes(app):
            if path.endswith("/session"):
                continue
            response = await _call(client, method, path, admin.headers)
            assert response.status_code not in (401, 403), (method, path, response.text)


class TestTokens:
    async def test_a_revoked_token_stops_working_at_once(
        self, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        assert (await client.get(f"{PREFIX}/me", headers=agent.headers)).status_code == 200
        listed = await client.get(f"{PREFIX}/accounts/{agent.id}/tokens", headers=admin.headers)
        [token] = listed.json()
        assert token["prefix"] == agent.token[:12]
        assert "token" not in token
        assert token["last_used_at"] == "2026-06-03T14:00:00Z"

        revoked = await client.delete(f"{PREFIX}/tokens/{token['id']}", headers=admin.headers)

        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] == "2026-06-03T14:00:00Z"
        response = await client.get(f"{PREFIX}/me", headers=agent.headers)
        assert response.status_code == 401

    async def test_signing_out_revokes_the_session_token(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        assert (await client.delete(f"{PREFIX}/session", headers=agent.headers)).status_code == 204
        assert (await client.get(f"{PREFIX}/me", headers=agent.headers)).status_code == 401

    async def test_a_disabled_account_is_locked_out(
        self, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        await client.patch(
            f"{PREFIX}/accounts/{agent.id}", json={"active": False}, headers=admin.headers
        )
        assert (await client.get(f"{PREFIX}/me", headers=agent.headers)).status_code == 401

    async def test_a_token_with_an_expiry_lapses(
        self, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser, clock: FakeClock
    ) -> None:
        minted = await client.post(
            f"{PREFIX}/accounts/{agent.id}/tokens",
            json={"label": "laptop", "expires_in_days": 1},
            headers=admin.headers,
        )
        assert minted.status_code == 201
        headers = {"Authorization": f"Bearer {minted.json()['token']}"}
        assert (await client.get(f"{PREFIX}/me", headers=headers)).status_code == 200
        clock.advance(days=1)
        assert (await client.get(f"{PREFIX}/me", headers=headers)).status_code == 401

    async def test_tokens_are_stored_only_as_a_hash(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        user = await make_staff(app, "new@ketaminetherapyclinic.ca", StaffRole.AGENT)
        async with app.state.sessions() as session:
            stored = (await session.execute(sa.select(token_table))).all()
        values = {str(v) for row in stored for v in row}
        assert user.token not in values
        assert digest(user.token) in values
        assert user.token.startswith("inqs_")
        assert len(user.token) >= 40
