"""Fixtures of the console tests: staff who sign in with a password, and a browser-like
client that keeps the console's cookie and reads the pages' form tokens."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from inquiry.models import StaffRole
from tests.conftest import valid_inquiry
from tests.staff.fixtures import FakeClock, StaffUser, make_staff

PASSWORD = "correct horse battery staple 42"
AGENT_EMAIL = "nadia@ketaminetherapyclinic.ca"
_HIDDEN = r'name="{name}" value="([^"]*)"'


def hidden(page: str, name: str) -> str:
    """The value of a hidden field of the page."""
    found = re.search(_HIDDEN.format(name=name), page)
    assert found, f"no {name} in the page"
    return html.unescape(found.group(1))


class Browser:
    """An httpx client used as a browser is: cookies kept, forms posted with their tokens."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(path, **kwargs)
        if 'name="csrf_token"' in response.text:
            self.csrf = hidden(response.text, "csrf_token")
        return response

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        form = {**({"csrf_token": self.csrf} if csrf else {}), **(data or {})}
        response = await self.client.post(path, data=form, **kwargs)
        if 'name="csrf_token"' in response.text:
            self.csrf = hidden(response.text, "csrf_token")
        return response

    async def password_step(
        self, email: str = AGENT_EMAIL, password: str = PASSWORD, next_path: str = ""
    ) -> httpx.Response:
        page = await self.get("/staff/login" + (f"?next={next_path}" if next_path else ""))
        form = {
            "email": email,
            "password": password,
            "form_token": hidden(page.text, "form_token"),
            "next": hidden(page.text, "next"),
            "language": "en",
        }
        return await self.post("/staff/login", form, csrf=False)

    async def sign_in(self, email: str = AGENT_EMAIL, password: str = PASSWORD) -> None:
        response = await self.password_step(email, password)
        assert response.status_code == 303, response.text
        await self.get("/staff")


@pytest.fixture
def browser_client(client: httpx.AsyncClient) -> Browser:
    return Browser(client)


@pytest.fixture
async def agent_with_password(app: FastAPI, clock: FakeClock) -> StaffUser:
    return await make_staff(app, AGENT_EMAIL, StaffRole.AGENT, password=PASSWORD)


ADMIN_EMAIL = "amira@ketaminetherapyclinic.ca"


@pytest.fixture
async def admin_with_password(app: FastAPI, clock: FakeClock) -> StaffUser:
    return await make_staff(app, ADMIN_EMAIL, StaffRole.ADMIN, password=PASSWORD)


@pytest.fixture
async def admin_console(browser_client: Browser, admin_with_password: StaffUser) -> Browser:
    """A browser signed in to the console as an admin."""
    await browser_client.sign_in(ADMIN_EMAIL)
    return browser_client


async def submitted(client: httpx.AsyncClient, **body: Any) -> str:
    """An inquiry posted to the public API; its reference."""
    response = await client.post("/api/v1/inquiries", json=valid_inquiry(**body))
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    return reference
