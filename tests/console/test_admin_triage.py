"""The admin Triage page: the rules in use, the last reload error, and the tester."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from inquiry.models import audit_table, inquiry_table
from inquiry.triage import default_rules, last_reload_error, reload_rules
from inquiry.triage import rules as rules_module
from inquiry.triage.rules import RulesError
from tests.console.fixtures import Browser
from tests.staff.fixtures import StaffUser, sessions

pytestmark = pytest.mark.postgres


async def stored(app: FastAPI) -> tuple[int, int]:
    async with sessions(app)() as session:
        count = sa.select(sa.func.count())
        inquiries = await session.scalar(count.select_from(inquiry_table))
        entries = await session.scalar(count.select_from(audit_table))
        return int(inquiries or 0), int(entries or 0)


class TestTriagePage:
    async def test_shows_the_rules_file_in_use(self, admin_console: Browser) -> None:
        page = await admin_console.get("/staff/admin/triage")
        assert page.status_code == 200
        rules = default_rules()
        assert f"<code>{rules.source}</code>" in page.text
        assert f"<code>{rules.digest}</code>" in page.text
        assert "No reload failed" in page.text

    async def test_the_last_reload_error_is_shown_escaped(
        self, admin_console: Browser, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        failed = (default_rules().loaded_at, "rules.json: not valid JSON at <line 3>")
        monkeypatch.setattr(rules_module, "_reload_error", failed)
        page = await admin_console.get("/staff/admin/triage")
        assert "The last reload failed" in page.text
        assert "not valid JSON at &lt;line 3&gt;" in page.text

    async def test_the_tester_triages_without_storing_anything(
        self, app: FastAPI, admin_console: Browser
    ) -> None:
        await admin_console.get("/staff/admin/triage")
        before = await stored(app)
        answer = await admin_console.post(
            "/staff/admin/triage",
            {"subject": "Help", "message": "I want to kill myself tonight.", "topic": "billing"},
        )
        assert answer.status_code == 200
        assert 'data-topic="crisis"' in answer.text
        assert 'data-priority="urgent"' in answer.text
        assert 'data-crisis="yes"' in answer.text
        assert await stored(app) == before
        billing = await admin_console.post(
            "/staff/admin/triage", {"subject": "", "message": "A question about my invoice."}
        )
        assert 'data-topic="billing"' in billing.text
        too_long = await admin_console.post("/staff/admin/triage", {"message": "x" * 5001})
        assert too_long.status_code == 422

    async def test_agents_and_tokenless_forms_are_refused(
        self, browser_client: Browser, agent_with_password: StaffUser
    ) -> None:
        await browser_client.sign_in()
        assert (await browser_client.get("/staff/admin/triage")).status_code == 403
        posted = await browser_client.post("/staff/admin/triage", {"message": "hello"})
        assert posted.status_code == 403


def test_a_failed_reload_is_remembered_until_one_succeeds(tmp_path: Path) -> None:
    broken = tmp_path / "rules.json"
    broken.write_text("{", encoding="utf-8")
    in_use = default_rules()
    with pytest.raises(RulesError):
        reload_rules(broken)
    failed = last_reload_error()
    assert failed is not None
    assert "not valid JSON" in failed[1]
    assert default_rules() is in_use
    reload_rules()
    assert last_reload_error() is None
