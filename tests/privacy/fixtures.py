"""Fixtures of the privacy tests: a visitor whose inquiries touch every table, and a look at
everything the database and the mail folder hold."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import inquiry.callbacks.models
import inquiry.lifecycle.models
import inquiry.privacy.models
import inquiry.staff.models  # noqa: F401 - registers every table with SQLModel.metadata
from inquiry.config import Settings
from inquiry.models import inquiry_table
from inquiry.notify.worker import OutboxWorker
from tests.conftest import valid_inquiry
from tests.staff.fixtures import StaffUser, act, on_inquiry

URL = "/api/v1/inquiries"
# What the visitor wrote and was stored with: none of it may survive an erasure.
SECRETS = (
    "Hélène Tremblay",
    "helene.tremblay@example.ca",
    "+14165550123",
    "ketamine for my depression",
    "she asked about infusion dates",
    "left a voicemail about her dosage",
    "mentions suicidal history",
)


@dataclass(frozen=True)
class Visitor:
    """A visitor with two inquiries (one worked, its mail sent; one with mail unsent), and
    someone else's inquiry that must stay as it is."""

    references: tuple[str, str]
    ids: tuple[int, int]
    task_id: int
    bystander: str


async def submit(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        URL, json=valid_inquiry(**overrides), headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def inquiry_id(engine: AsyncEngine, reference: str) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(
            sa.select(inquiry_table.c.id).where(inquiry_table.c.reference == reference)
        )
    assert found is not None
    return int(found)


async def drain(engine: AsyncEngine, settings: Settings) -> int:
    """Send every due message (the test settings keep mail as files)."""
    return await OutboxWorker(engine, settings).drain()


@pytest.fixture
async def visitor(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, agent: StaffUser
) -> Visitor:
    user = agent
    about = {
        "name": "Hélène Tremblay",
        "email": "Helene.Tremblay@example.ca",
        "phone": "(416) 555-0123",
        "preferred_contact": "phone",
        "message": "I would like to try ketamine for my depression. Please call me.",
    }
    first = await submit(client, **about)
    bystander = await submit(client, name="Paul Martin", email="paul@example.ca", phone=None)
    await drain(engine, settings)
    second = await submit(client, **about, subject="Second try")  # its mail stays unsent
    first_id = await inquiry_id(engine, first["reference"])
    second_id = await inquiry_id(engine, second["reference"])

    note = {"text": "she asked about infusion dates"}
    assert (await on_inquiry(client, user, first_id, "notes", note)).status_code == 201
    override = {"topic": "clinical", "reason": "mentions suicidal history"}
    assert (await on_inquiry(client, user, first_id, "triage", override)).status_code == 200
    detail = await client.get(f"/api/v1/staff/inquiries/{first_id}", headers=user.headers)
    task_id = detail.json()["callback_task_id"]
    assert (await act(client, user, task_id, "claim")).status_code == 200
    attempt = {"outcome": "voicemail", "note": "left a voicemail about her dosage"}
    assert (await act(client, user, task_id, "attempts", **attempt)).status_code == 200
    return Visitor(
        (first["reference"], second["reference"]),
        (first_id, second_id),
        task_id,
        bystander["reference"],
    )


async def everything(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, by table."""
    held: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            rows = await connection.execute(sa.select(table))
            held[table.name] = [dict(row._mapping) for row in rows]
    return held


def found_in(held: dict[str, list[dict[str, Any]]], secret: str) -> list[str]:
    """Where in `held` a secret appears (case-insensitive), as table.column."""
    wanted = secret.casefold()
    return [
        f"{table}.{column}"
        for table, rows in held.items()
        for row in rows
        for column, value in row.items()
        if isinstance(value, str) and wanted in value.casefold()
    ]


def mail_folder(settings: Settings) -> dict[str, str]:
    folder: Path = settings.mail_dir
    if not folder.is_dir():
        return {}
    return {path.name: path.read_text(errors="replace") for path in sorted(folder.iterdir())}


async def stored(settings: Settings, *bodies: dict[str, Any]) -> list[str]:
    """Submit these inquiries through a fresh app; their references."""
    from inquiry.app import create_app

    app = create_app(settings)
    references = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for body in bodies:
                references.append((await submit(client, **body))["reference"])
    return references
