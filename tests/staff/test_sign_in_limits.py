"""Sign-in under pressure: throttled per address and per account, capped, and fail-closed."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.app import create_app
from inquiry.config import Settings
from inquiry.models import StaffRole, inquiry_table
from inquiry.staff.passwords import PasswordChecks
from tests.conftest import make_settings, valid_inquiry
from tests.intake.conftest import URL, count
from tests.staff.fixtures import FakeClock, make_staff

S = "/api/v1/staff"
PASSWORD = "correct horse battery staple"


class TestCounterStoreDown:
    async def test_sign_in_answers_503_while_intake_keeps_accepting(
        self, database_url: str, tmp_path: Path, engine: AsyncEngine
    ) -> None:
        settings = make_settings(
            database_url,
            tmp_path,
            rate_limit_enabled=True,
            rate_limit_storage_url="redis://127.0.0.1:1",  # nothing listens there
        )
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app):
            await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                signed_in = await c.post(
                    f"{S}/session", json={"email": "nurse@clinic.ca", "password": PASSWORD}
                )
                accepted = await c.post(URL, json=valid_inquiry())

        assert signed_in.status_code == 503
        assert signed_in.json()["error"]["code"] == "sign_in_unavailable"
        assert int(signed_in.headers["retry-after"]) > 0
        assert accepted.status_code == 201  # intake fails open
        assert await count(engine, inquiry_table) == 1


async def sign_in_from(
    app: FastAPI, address: str, email: str, password: str = "a wrong guess"
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post(f"{S}/session", json={"email": email, "password": password})


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        staff_login_max_failures=5,
        staff_login_max_failures_per_account=3,
        staff_login_max_failures_per_address=3,
    )


class TestThrottling:
    async def test_one_address_cannot_try_account_after_account(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        for n in range(3):
            response = await sign_in_from(app, "203.0.113.7", f"guess{n}@clinic.ca")
            assert response.status_code == 401

        throttled = await sign_in_from(app, "203.0.113.7", "nurse@clinic.ca", PASSWORD)

        assert throttled.status_code == 429
        assert throttled.json()["error"]["code"] == "login_throttled"
        assert int(throttled.headers["retry-after"]) > 0
        elsewhere = await sign_in_from(app, "198.51.100.9", "nurse@clinic.ca", PASSWORD)
        assert elsewhere.status_code == 201

    async def test_many_addresses_cannot_guess_one_account(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        for n in range(3):
            response = await sign_in_from(app, f"192.0.2.{n}", "nurse@clinic.ca")
            assert response.status_code == 401

        throttled = await sign_in_from(app, "192.0.2.200", "nurse@clinic.ca", PASSWORD)

        assert throttled.status_code == 429
        await make_staff(app, "doctor@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        other = await sign_in_from(app, "192.0.2.200", "doctor@clinic.ca", PASSWORD)
        assert other.status_code == 201

    async def test_signing_in_to_an_own_account_does_not_clear_the_other_counts(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        await make_staff(app, "nurse@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        await make_staff(app, "mine@clinic.ca", StaffRole.AGENT, password=PASSWORD)
        for n in range(2):
            await sign_in_from(app, "203.0.113.7", f"guess{n}@clinic.ca")
        assert (
            await sign_in_from(app, "203.0.113.7", "mine@clinic.ca", PASSWORD)
        ).status_code == 201
        await sign_in_from(app, "203.0.113.7", "guess2@clinic.ca")

        throttled = await sign_in_from(app, "203.0.113.7", "nurse@clinic.ca", PASSWORD)

        assert throttled.status_code == 429


class TestPasswordChecks:
    async def test_checks_past_the_cap_are_refused_at_once_with_503(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = make_settings(
            database_url,
            tmp_path,
            staff_password_checks_concurrent=1,
            staff_password_checks_waiting=1,
            staff_login_max_failures_per_address=100,
        )
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app):
            answers = await asyncio.gather(
                *(sign_in_from(app, "203.0.113.7", f"guess{n}@clinic.ca") for n in range(6))
            )
        statuses = sorted(response.status_code for response in answers)
        assert statuses.count(401) >= 2  # one checked, one waited for it
        assert 503 in statuses
        busy = next(response for response in answers if response.status_code == 503)
        assert busy.json()["error"]["code"] == "sign_in_busy"
        assert busy.headers["retry-after"] == "1"

    async def test_at_most_the_configured_number_run_at_once(self) -> None:
        checks = PasswordChecks(concurrent=2, waiting=10)
        running = 0
        most = 0
        lock = threading.Lock()

        def work() -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)
            with lock:
                running -= 1

        try:
            await asyncio.gather(*(checks.run(work) for _ in range(8)))
        finally:
            checks.close()
        assert most == 2

    @pytest.mark.skipif(sys.platform != "linux", reason="thread priorities are Linux's")
    async def test_checks_run_at_the_lowest_cpu_priority(self) -> None:
        checks = PasswordChecks(concurrent=1, waiting=0)
        try:
            nice = await checks.run(
                lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            )
        finally:
            checks.close()
        assert nice == 19


class TestRefusalPause:
    async def test_a_refused_sign_in_answers_after_a_pause(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """A flood's connections wait between refusals instead of sending thousands a second."""
        settings = make_settings(
            database_url,
            tmp_path,
            staff_login_max_failures=1,
            staff_login_refusal_delay_seconds=0.5,
        )
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app):
            assert (await sign_in_from(app, "203.0.113.7", "a@clinic.ca")).status_code == 401
            started = time.perf_counter()
            refused = await sign_in_from(app, "203.0.113.7", "a@clinic.ca")
            waited = time.perf_counter() - started
        assert refused.status_code == 429
        assert waited >= 0.5
