"""Fixtures of the staff and callback tests: a clock to move, staff with tokens, seeded tasks,
and acting on a task through the API."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inquiry.audit import Caller
from inquiry.callbacks.models import CallbackTask, Channel
from inquiry.callbacks.tasks import task_row
from inquiry.config import Settings
from inquiry.models import Inquiry, StaffRole, audit_table, inquiry_table
from inquiry.staff.service import StaffService
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, Topic

TORONTO = ZoneInfo("America/Toronto")
# A Wednesday at 10:00 in Toronto: business hours, no holiday near.
START = datetime(2026, 6, 3, 10, 0, tzinfo=TORONTO).astimezone(UTC)
_references = itertools.count(1)


def toronto(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in Toronto, as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=TORONTO).astimezone(UTC)


class FakeClock:
    """The app's clock, moved by tests instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class StaffUser:
    id: int
    email: str
    role: StaffRole
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sessions(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.sessions
    return factory


async def make_staff(
    app: FastAPI, email: str, role: StaffRole, *, password: str | None = None
) -> StaffUser:
    """An account with a fresh API token, made the way the command line makes them."""
    settings: Settings = app.state.settings
    async with sessions(app)() as session, session.begin():
        caller = Caller(staff=None, client_ip="cli", now=app.state.clock())
        accounts = StaffService(session, settings, caller)
        staff = await accounts.create(email=email, role=role, password=password)
        minted = await accounts.mint_token(staff, label="test")
        assert staff.id is not None
        return StaffUser(staff.id, staff.email, role, minted.secret)


async def seed_task(
    app: FastAPI,
    *,
    topic: Topic = Topic.NEW_PATIENT,
    at: datetime | None = None,
    email: str | None = "visitor@example.ca",
    phone: str | None = "+14165550199",
    channel: Channel = Channel.PHONE,
    window: str = "any",
    voicemail_ok: bool = True,
    **inquiry: Any,
) -> tuple[int, int]:
    """An inquiry owing a call (or an email reply), with its task, as intake would have
    stored them at `at`."""
    settings: Settings = app.state.settings
    now = at or app.state.clock()
    priority = PRIORITY_OF_TOPIC[topic]
    row = Inquiry(
        reference=f"INQ-T{next(_references):05d}",
        created_at=now,
        status="new",
        name="Marie Tremblay",
        email=email,
        phone=phone,
        preferred_contact=channel.value,
        callback_window=window,
        voicemail_ok=voicemail_ok,
        subject="Call me",
        message="Please call me about starting treatment.",
        language="en",
        consent=True,
        source="api",
        topic=topic.value,
        priority=priority.value,
        crisis=topic is Topic.CRISIS,
        triage_reasons=json.dumps(["test"]),
        **inquiry,
    )
    async with sessions(app)() as session, session.begin():
        session.add(row)
        await session.flush()
        assert row.id is not None
        task = CallbackTask(
            inquiry_id=row.id,
            **task_row(
                channel=channel,
                phone=phone,
                email=email,
                name=row.name,
                language="en",
                callback_window=window,
                voicemail_ok=voicemail_ok,
                priority=priority,
                now=now,
                settings=settings,
            ),
        )
        session.add(task)
        await session.flush()
        assert task.id is not None
        return row.id, task.id


async def act(
    client: httpx.AsyncClient, user: StaffUser, task_id: int, action: str, **body: Any
) -> httpx.Response:
    """Post an action on a task (claim, release, attempts, …) as this staff member."""
    return await client.post(
        f"/api/v1/staff/callbacks/{task_id}/{action}", headers=user.headers, json=body or None
    )


async def claimed_task(app: FastAPI, client: httpx.AsyncClient, user: StaffUser) -> tuple[int, int]:
    """A seeded inquiry and its task, which this staff member holds."""
    inquiry_id, task_id = await seed_task(app)
    response = await act(client, user, task_id, "claim")
    assert response.status_code == 200, response.text
    return inquiry_id, task_id


async def set_status(
    app: FastAPI,
    inquiry_id: int,
    status: str,
    *,
    close_reason: str | None = None,
    waiting_until: datetime | None = None,
) -> None:
    """Put a stored inquiry in this status, as if it had got there."""
    async with sessions(app)() as session, session.begin():
        await session.execute(
            sa.update(inquiry_table)
            .where(inquiry_table.c.id == inquiry_id)
            .values(status=status, close_reason=close_reason, waiting_until=waiting_until)
        )


async def on_inquiry(
    client: httpx.AsyncClient, user: StaffUser, key: object, action: str, body: Any = None
) -> httpx.Response:
    """Post an action on an inquiry (status, notes, assign, not-spam…) as this staff member."""
    return await client.post(
        f"/api/v1/staff/inquiries/{key}/{action}", headers=user.headers, json=body
    )


async def inquiry_detail(client: httpx.AsyncClient, user: StaffUser, key: object) -> Any:
    response = await client.get(f"/api/v1/staff/inquiries/{key}", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def audit_actions(app: FastAPI) -> list[tuple[str, int | None, str | None]]:
    """(action, staff_id, target_id) of every audit entry, oldest first."""
    async with sessions(app)() as session, session.begin():
        rows = await session.execute(
            sa.select(
                audit_table.c.action, audit_table.c.staff_id, audit_table.c.target_id
            ).order_by(audit_table.c.id)
        )
        return [(r.action, r.staff_id, r.target_id) for r in rows]


@pytest.fixture
def clock(app: FastAPI) -> FakeClock:
    fake = FakeClock(START)
    app.state.clock = fake
    return fake


@pytest.fixture
async def agent(app: FastAPI, clock: FakeClock) -> StaffUser:
    return await make_staff(app, "agent@ketaminetherapyclinic.ca", StaffRole.AGENT)


@pytest.fixture
async def agent2(app: FastAPI, clock: FakeClock) -> StaffUser:
    return await make_staff(app, "agent2@ketaminetherapyclinic.ca", StaffRole.AGENT)


@pytest.fixture
async def admin(app: FastAPI, clock: FakeClock) -> StaffUser:
    return await make_staff(app, "admin@ketaminetherapyclinic.ca", StaffRole.ADMIN)


STAFF_PREFIX = "/api/v1/staff"


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def staff_routes(app: FastAPI) -> list[tuple[str, str, set[Callable[..., Any]]]]:
    """(method, path as documented, every dependency) of each route under /api/v1/staff."""
    routes: list[tuple[str, str, set[Callable[..., Any]]]] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path_format or ""
        if isinstance(route, APIRoute) and path.startswith(STAFF_PREFIX):
            calls = set(_calls(route.dependant))
            routes.extend((method, path, calls) for method in sorted(context.methods or ()))
    return routes
