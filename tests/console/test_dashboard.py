"""The dashboard: aggregate figures in clinic days, for agents and admins alike."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.callbacks.models import attempt_table, task_table
from inquiry.triage.taxonomy import Topic
from tests.console.fixtures import Browser
from tests.staff.fixtures import FakeClock, StaffUser, seed_task, sessions, toronto

pytestmark = pytest.mark.postgres


def day_row(page: str, day: str) -> list[str]:
    found = re.search(rf'<tr data-day="{day}">(.*?)</tr>', page)
    assert found, day
    return re.findall(r"<td>(\d+)</td>", found.group(1))


def first_table(page: str) -> str:
    found = re.search(r"<table>(.*?)</table>", page, re.DOTALL)
    assert found
    return found.group(1)


def attribute(page: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', page)
    assert found, name
    return found.group(1)


async def task_with_attempts(
    app: FastAPI,
    staff: StaffUser,
    *,
    topic: Topic = Topic.NEW_PATIENT,
    at: datetime,
    first_due: timedelta = timedelta(hours=2),
    attempts: tuple[timedelta, ...] = (),
    **task: Any,
) -> tuple[int, int]:
    """An inquiry and its task made at `at`, first due `first_due` later, attempted at these
    times after `at` (and with these other task columns)."""
    inquiry_id, task_id = await seed_task(app, topic=topic, at=at)
    async with sessions(app)() as session, session.begin():
        await session.execute(
            sa.update(task_table)
            .where(task_table.c.id == task_id)
            .values(
                first_due_at=at + first_due,
                due_at=task.pop("due_at", at + first_due),
                attempts=len(attempts),
                first_attempt_at=at + min(attempts) if attempts else None,
                **task,
            )
        )
        for after in attempts:
            await session.execute(
                sa.insert(attempt_table).values(
                    task_id=task_id, staff_id=staff.id, at=at + after, outcome="no_answer"
                )
            )
    return inquiry_id, task_id


class TestDashboard:
    async def test_figures_by_clinic_day_priority_and_overdue(
        self,
        app: FastAPI,
        browser_client: Browser,
        agent_with_password: StaffUser,
        clock: FakeClock,
    ) -> None:
        # 23:30 on June 1 in Toronto is June 2 in UTC: it counts on June 1.
        await seed_task(app, topic=Topic.BILLING, at=toronto(2026, 6, 1, 23, 30))
        await seed_task(app, topic=Topic.CRISIS)
        await seed_task(app, topic=Topic.GENERAL, at=clock.now - timedelta(hours=1))
        await seed_task(app, topic=Topic.GENERAL, at=clock.now - timedelta(days=40))
        await browser_client.sign_in()
        page = await browser_client.get("/staff/dashboard")
        assert page.status_code == 200
        topics = re.findall(r'<th scope="col">([^<]+)</th>', first_table(page.text))
        assert topics == ["Day", "Billing", "Crisis", "General", "Total"]
        assert day_row(page.text, "2026-06-01") == ["1", "0", "0", "1"]
        assert day_row(page.text, "2026-06-02") == ["0", "0", "0", "0"]
        assert day_row(page.text, "2026-06-03") == ["0", "1", "1", "2"]
        figures = re.findall(r"<dd (data-[^>]*)>(\d+)</dd>", page.text)
        assert figures[:6] == [
            ('data-open="urgent"', "1"),
            ('data-open="high"', "0"),
            ('data-open="normal"', "1"),
            ('data-open="low"', "2"),
            ("data-overdue", "2"),  # the June 1 call and the 40-day-old one
            ("data-crisis", "1"),
        ]
        assert 'role="img"' in page.text
        assert "2026-05-04" not in page.text  # 30 days: May 5 to June 3
        assert 'data-day="2026-05-05"' in page.text

    async def test_service_level_counts_the_first_attempt_against_the_first_due_time(
        self,
        app: FastAPI,
        browser_client: Browser,
        agent_with_password: StaffUser,
        clock: FakeClock,
    ) -> None:
        now, staff = clock.now, agent_with_password
        hour, day = timedelta(hours=1), timedelta(days=1)
        # Met, in both windows; its second attempt changes nothing.
        await task_with_attempts(app, staff, at=now - 2 * day, attempts=(hour, 5 * hour))
        # Put off to two days later and attempted before then, but after it was first due.
        await task_with_attempts(
            app, staff, at=now - 3 * day, due_at=now - day, attempts=(5 * hour,)
        )
        # Its first due time passed with no attempt while it was open (and then cancelled).
        await task_with_attempts(
            app, staff, at=now - 4 * day, status="cancelled", closed_at=now - 3 * day
        )
        # Missed and met in the 30 days only.
        await task_with_attempts(app, staff, at=now - 10 * day)
        await task_with_attempts(app, staff, at=now - 20 * day, attempts=(hour,))
        # Not counted: not yet due; closed before it was due; before the 30 days.
        await task_with_attempts(app, staff, at=now - hour, first_due=3 * hour)
        await task_with_attempts(
            app, staff, at=now - 5 * day, status="cancelled", closed_at=now - 5 * day + hour
        )
        await task_with_attempts(app, staff, at=now - 40 * day, attempts=(hour,))
        await browser_client.sign_in()
        page = (await browser_client.get("/staff/dashboard")).text
        levels = re.findall(
            r'data-service-level="(\d+)" data-met="(\d+)" data-counted="(\d+)">([^<]*)<', page
        )
        assert levels == [
            ("7", "1", "3", "33% (1 of 3 tasks first attempted on time)"),
            ("30", "2", "5", "40% (2 of 5 tasks first attempted on time)"),
        ]

    async def test_median_time_to_first_attempt_by_priority(
        self,
        app: FastAPI,
        browser_client: Browser,
        agent_with_password: StaffUser,
        clock: FakeClock,
    ) -> None:
        now, staff, minute = clock.now, agent_with_password, timedelta(minutes=1)
        for n, wait in enumerate((60, 10, 20)):  # normal: the middle one
            at = now - timedelta(days=n + 1)
            await task_with_attempts(app, staff, at=at, attempts=(wait * minute, 300 * minute))
        for n, wait in enumerate((30, 50)):  # high: the mean of the middle two
            at = now - timedelta(days=n + 1)
            await task_with_attempts(
                app, staff, topic=Topic.CLINICAL, at=at, attempts=(wait * minute,)
            )
        await task_with_attempts(app, staff, topic=Topic.CRISIS, at=now, attempts=(5 * minute,))
        await task_with_attempts(app, staff, topic=Topic.CRISIS, at=now - minute)  # no attempt
        await task_with_attempts(  # before the 30 days
            app, staff, at=now - timedelta(days=40), attempts=(900 * minute,)
        )
        await browser_client.sign_in()
        page = (await browser_client.get("/staff/dashboard")).text
        rows = re.findall(
            r'<tr data-priority="(\w+)"><th scope="row">[^<]+</th><td>(\d+)</td>'
            r'<td data-seconds="(\d*)">([^<]+)</td>',
            page,
        )
        assert rows == [
            ("urgent", "1", "300", "5 min"),
            ("high", "2", "2400", "40 min"),
            ("normal", "3", "1200", "20 min"),
            ("low", "0", "", "No attempt yet"),
        ]
        assert 'aria-labelledby="first-attempt"' in page

    async def test_crisis_inquiries_and_their_time_to_first_call(
        self,
        app: FastAPI,
        browser_client: Browser,
        agent_with_password: StaffUser,
        clock: FakeClock,
    ) -> None:
        now, staff = clock.now, agent_with_password
        minute, day = timedelta(minutes=1), timedelta(days=1)
        crisis = Topic.CRISIS
        await task_with_attempts(
            app, staff, topic=crisis, at=now - 2 * day, attempts=(15 * minute, 120 * minute)
        )
        await task_with_attempts(
            app, staff, topic=crisis, at=now - 5 * day, attempts=(45 * minute,)
        )
        await task_with_attempts(app, staff, topic=crisis, at=now - day)  # not called yet
        await task_with_attempts(  # before the 30 days
            app, staff, topic=crisis, at=now - 40 * day, attempts=(600 * minute,)
        )
        # A crisis message folded into the same person's earlier inquiry's task: only the
        # attempts made after it arrived answer it.
        first_id, _ = await task_with_attempts(
            app, staff, at=now - 4 * day, attempts=(10 * minute, day + 60 * minute)
        )
        _, own_task = await seed_task(app, topic=crisis, at=now - 3 * day, duplicate_of=first_id)
        async with sessions(app)() as session, session.begin():
            await session.execute(sa.delete(task_table).where(task_table.c.id == own_task))
        await browser_client.sign_in()
        page = (await browser_client.get("/staff/dashboard")).text
        figures = dict(re.findall(r"<dd (data-crisis[-\w]*)[^>]*>([^<]+)</dd>", page))
        assert figures == {
            "data-crisis": "4",
            "data-crisis-inquiries": "4",
            "data-crisis-attempted": "3",
            "data-crisis-waiting": "1",
            "data-crisis-median": "45 min",
            "data-crisis-longest": "1 h",
        }
        assert attribute(page, "data-crisis-median") == "2700"
        assert attribute(page, "data-crisis-longest") == "3600"

    async def test_signed_out_is_sent_to_sign_in(self, browser_client: Browser) -> None:
        response = await browser_client.get("/staff/dashboard")
        assert response.status_code == 303
