"""The dashboard: aggregate figures in clinic days, for agents and admins alike."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI

from inquiry.triage.taxonomy import Topic
from tests.console.fixtures import Browser
from tests.staff.fixtures import FakeClock, StaffUser, seed_task, toronto

pytestmark = pytest.mark.postgres


def day_row(page: str, day: str) -> list[str]:
    found = re.search(rf'<tr data-day="{day}">(.*?)</tr>', page)
    assert found, day
    return re.findall(r"<td>(\d+)</td>", found.group(1))


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
        topics = re.findall(r'<th scope="col">([^<]+)</th>', page.text)
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

    async def test_signed_out_is_sent_to_sign_in(self, browser_client: Browser) -> None:
        response = await browser_client.get("/staff/dashboard")
        assert response.status_code == 303
