"""Claim next under contention: many staff at once, each task to exactly one of them."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.models import task_table
from inquiry.models import StaffRole
from tests.staff.fixtures import FakeClock, make_staff, seed_task


class TestConcurrentClaims:
    async def test_twenty_concurrent_claims_on_five_tasks_give_five_claims_and_fifteen_empty(
        self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine
    ) -> None:
        tasks = {(await seed_task(app))[1] for _ in range(5)}
        staff = [
            await make_staff(app, f"agent{i}@ketaminetherapyclinic.ca", StaffRole.AGENT)
            for i in range(20)
        ]

        responses = await asyncio.gather(
            *(
                client.post("/api/v1/staff/callbacks/claim-next", headers=user.headers)
                for user in staff
            )
        )

        assert {r.status_code for r in responses} == {200}
        answers = [r.json()["task"] for r in responses]
        claimed = [a for a in answers if a is not None]
        assert len(claimed) == 5
        assert answers.count(None) == 15
        assert {a["id"] for a in claimed} == tasks
        async with engine.connect() as connection:
            holders = (
                await connection.execute(sa.select(task_table.c.status, task_table.c.claimed_by))
            ).all()
        assert {status for status, _ in holders} == {"claimed"}
        assert len({holder for _, holder in holders}) == 5
        assert {a["claimed_by"] for a in claimed} == {holder for _, holder in holders}
