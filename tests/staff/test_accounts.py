"""Signing in (Argon2id, throttled), and admins managing accounts and tokens."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.callbacks.models import task_table
from inquiry.models import StaffRole, staff_table
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    act,
    audit_actions,
    claimed_task,
    make_staff,
    seed_task,
)

S = "/api/v1/staff"
PASSWORD = "correct horse battery staple"


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(f"{S}/session", json={"email": email, "password": password})


class TestSignIn:
    async def test_the_right_password_gives_a_session_token(
        self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        user = await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)

        response = await sign_in(client, "Nurse@Clinic.ca", PASSWORD)

        assert response.status_code == 201
        body = response.json()
        assert body["token"].startswith("inqs_")
        assert body["details"]["kind"] == "session"
        assert body["details"]["expires_at"] == "2026-06-04T02:00:00Z"  # 12 hours
        assert body["staff"]["last_login_at"] == "2026-06-03T14:00:00Z"
        me = await client.get(f"{S}/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.json()["email"] == user.email
        clock.advance(hours=12)
        me = await client.get(f"{S}/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.status_code == 401

    async def test_passwords_are_kept_as_argon2id_hashes(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        async with app.state.sessions() as session:
            stored = await session.scalar(sa.select(staff_table.c.password_hash))
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored

    async def test_a_wrong_password_and_an_unknown_email_answer_alike(
        self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        wrong = await sign_in(client, "nurse@clinic.ca", "not the password")
        unknown = await sign_in(client, "nobody@clinic.ca", PASSWORD)
        for response in (wrong, unknown):
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_credentials"
        assert [a for a, _, _ in await audit_actions(app)].count("session.failed") == 2

    async def test_failed_sign_ins_are_throttled_per_email_and_address(
        self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        for _ in range(5):
            assert (await sign_in(client, "nurse@clinic.ca", "guess")).status_code == 401

        throttled = await sign_in(client, "nurse@clinic.ca", PASSWORD)

        assert throttled.status_code == 429
        assert throttled.json()["error"]["code"] == "login_throttled"
        assert int(throttled.headers["retry-after"]) > 0
        # The same account from another address, and another account from this one, still can.
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            assert (await sign_in(other, "nurse@clinic.ca", PASSWORD)).status_code == 201
        await make_staff(app, "doctor@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        assert (await sign_in(client, "doctor@clinic.ca", PASSWORD)).status_code == 201

    async def test_a_success_clears_the_failure_count(
        self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        for _ in range(4):
            await sign_in(client, "nurse@clinic.ca", "guess")
        assert (await sign_in(client, "nurse@clinic.ca", PASSWORD)).status_code == 201
        for _ in range(4):
            await sign_in(client, "nurse@clinic.ca", "guess")
        assert (await sign_in(client, "nurse@clinic.ca", PASSWORD)).status_code == 201

    async def test_a_disabled_account_cannot_sign_in(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        user = await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        await client.patch(f"{S}/accounts/{user.id}", json={"active": False}, headers=admin.headers)
        assert (await sign_in(client, "nurse@clinic.ca", PASSWORD)).status_code == 401

    async def test_a_token_only_account_cannot_sign_in(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        assert (await sign_in(client, agent.email, "")).status_code == 401


class TestAccounts:
    async def test_an_admin_adds_an_account_and_it_can_sign_in(
        self, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        response = await client.post(
            f"{S}/accounts",
            json={"email": "New.Agent@Clinic.ca", "role": "agent", "password": PASSWORD},
            headers=admin.headers,
        )
        assert response.status_code == 201
        assert (response.json()["email"], response.json()["role"]) == (
            "new.agent@clinic.ca",
            "agent",
        )
        assert (await sign_in(client, "new.agent@clinic.ca", PASSWORD)).status_code == 201
        listed = await client.get(f"{S}/accounts", headers=admin.headers)
        assert {a["email"] for a in listed.json()} == {admin.email, "new.agent@clinic.ca"}

    async def test_a_short_password_a_bad_email_and_a_duplicate_are_refused(
        self, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        short = await client.post(
            f"{S}/accounts",
            json={"email": "a@clinic.ca", "role": "agent", "password": "short"},
            headers=admin.headers,
        )
        assert (short.status_code, short.json()["error"]["code"]) == (422, "invalid_password")
        bad = await client.post(
            f"{S}/accounts", json={"email": "not an email", "role": "agent"}, headers=admin.headers
        )
        assert bad.status_code == 422
        again = await client.post(
            f"{S}/accounts", json={"email": admin.email, "role": "agent"}, headers=admin.headers
        )
        assert (again.status_code, again.json()["error"]["code"]) == (409, "staff_exists")

    async def test_role_changes_take_effect_at_once(
        self, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        assert (await client.get(f"{S}/audit", headers=agent.headers)).status_code == 403
        await client.patch(
            f"{S}/accounts/{agent.id}", json={"role": "admin"}, headers=admin.headers
        )
        assert (await client.get(f"{S}/audit", headers=agent.headers)).status_code == 200

    async def test_the_last_admin_cannot_be_demoted_or_disabled(
        self, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        for change in ({"role": "agent"}, {"active": False}):
            response = await client.patch(
                f"{S}/accounts/{admin.id}", json=change, headers=admin.headers
            )
            assert (response.status_code, response.json()["error"]["code"]) == (
                409,
                "transition_not_allowed",
            )

    async def test_disabling_an_account_frees_its_claims(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        await act(client, agent, task_id, "claim")
        await client.patch(
            f"{S}/accounts/{agent.id}", json={"active": False}, headers=admin.headers
        )
        async with app.state.sessions() as session:
            status = await session.scalar(sa.select(task_table.c.status))
        assert status == "open"

    async def test_disabling_an_account_leaves_the_claims_of_others_alone(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        _, mine = await claimed_task(app, client, agent)
        _, theirs = await claimed_task(app, client, admin)
        await client.patch(
            f"{S}/accounts/{agent.id}", json={"active": False}, headers=admin.headers
        )
        async with app.state.sessions() as session:
            rows = await session.execute(
                sa.select(task_table.c.id, task_table.c.status, task_table.c.claimed_by)
            )
            tasks = {row.id: (row.status, row.claimed_by) for row in rows}
        assert tasks == {mine: ("open", None), theirs: ("claimed", admin.id)}

    async def test_unknown_accounts_and_tokens_are_404(
        self, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        for method, path in [
            ("PATCH", f"{S}/accounts/999"),
            ("GET", f"{S}/accounts/999/tokens"),
            ("POST", f"{S}/accounts/999/tokens"),
            ("DELETE", f"{S}/tokens/999"),
        ]:
            body: dict[str, object] | None = {} if method in ("PATCH", "POST") else None
            response = await client.request(method, path, json=body, headers=admin.headers)
            assert response.status_code == 404, path

    async def test_account_changes_are_audited(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        created = await client.post(
            f"{S}/accounts", json={"email": "b@clinic.ca", "role": "agent"}, headers=admin.headers
        )
        staff_id = created.json()["id"]
        await client.patch(f"{S}/accounts/{staff_id}", json={"name": "B"}, headers=admin.headers)
        token = await client.post(f"{S}/accounts/{staff_id}/tokens", json={}, headers=admin.headers)
        await client.delete(f"{S}/tokens/{token.json()['details']['id']}", headers=admin.headers)
        actions = [(a, s, t) for a, s, t in await audit_actions(app) if s == admin.id]
        assert actions == [
            ("staff.create", admin.id, str(staff_id)),
            ("staff.update", admin.id, str(staff_id)),
            ("token.create", admin.id, str(staff_id)),
            ("token.revoke", admin.id, str(staff_id)),
        ]
