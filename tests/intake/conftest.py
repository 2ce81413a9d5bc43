"""What the intake tests share: the API's and the form's addresses, a valid form, an app with
its own settings, and reading back what was stored."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.app import create_app
from inquiry.config import Settings
from inquiry.models import inquiry_table

URL = "/api/v1/inquiries"


async def count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
        )


async def stored(engine: AsyncEngine, reference: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(inquiry_table).where(inquiry_table.c.reference == reference)
            )
        ).one()
    return dict(row._mapping)


async def started(
    settings: Settings, peer: str = "203.0.113.9"
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


FORM = "/forms/contact"


def form_token(page: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, "the form carries a one-time token"
    return match.group(1)


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    return match.group(1) if match else None


def valid_form(**overrides: str) -> dict[str, str]:
    values = {
        "name": "Jean Roy",
        "email": "jean@example.ca",
        "phone": "",
        "preferred_contact": "email",
        "callback_window": "any",
        "topic": "appointment",
        "subject": "",
        "message": "I need to move my infusion appointment next Tuesday to another day.",
        "consent": "true",
        "website": "",
        "language": "en",
    }
    values.update(overrides)
    return values
