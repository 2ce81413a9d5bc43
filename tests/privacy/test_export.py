"""Access requests on both databases: everything held about a person, as JSON and as an HTML
page that escapes what it shows; audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from inquiry.audit import Caller
from inquiry.config import Settings
from inquiry.models import audit_table, utcnow
from inquiry.privacy import export
from inquiry.privacy.selector import Selector, SelectorKind
from tests.privacy.fixtures import Visitor, drain, submit

SCRIPT = '<script>alert("held")</script>'


async def exported(
    engine: AsyncEngine, settings: Settings, kind: SelectorKind, written: str
) -> dict[str, Any]:
    caller = Caller(staff=None, client_ip="cli", now=utcnow())
    async with async_sessionmaker(engine)() as session, session.begin():
        return await export.gather(session, settings, caller, Selector.parse(kind, written))


class TestExport:
    async def test_everything_held_about_the_person_and_nothing_about_others(
        self, engine: AsyncEngine, settings: Settings, visitor: Visitor
    ) -> None:
        held = await exported(engine, settings, SelectorKind.PHONE, "416.555.0123")

        assert [i["inquiry"]["reference"] for i in held["inquiries"]] == list(visitor.references)
        first = held["inquiries"][0]
        assert first["inquiry"]["message"].startswith("I would like to try ketamine")
        assert [n["text"] for n in first["notes"]] == ["she asked about infusion dates"]
        assert [a["note"] for a in first["callback_attempts"]] == [
            "left a voicemail about her dosage"
        ]
        assert first["callback_tasks"][0]["phone"] == "+14165550123"
        assert [o["reason"] for o in first["triage_corrections"]] == ["mentions suicidal history"]
        assert first["status_changes"]
        assert {e["kind"] for e in first["emails"]} >= {"visitor_acknowledgement"}
        sent = [e for e in first["emails"] if e["kind"] == "visitor_acknowledgement"]
        assert "Tremblay" in sent[0]["mail_file"]  # the copy the file transport kept
        assert any(entry["action"] == "inquiry.note" for entry in first["access_log"])
        assert "Paul Martin" not in json.dumps(held)

    async def test_the_page_escapes_what_it_shows_and_both_files_are_written(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        tmp_path: Path,
    ) -> None:
        await submit(client, email="odd@example.ca", message=f"Hello {SCRIPT} & <b>bold</b>")
        await drain(engine, settings)
        held = await exported(engine, settings, SelectorKind.EMAIL, "ODD@example.ca")

        files = export.write(held, settings, tmp_path / "out")

        page = files.html.read_text()
        assert SCRIPT not in page
        assert "<b>bold" not in page
        assert "&lt;script&gt;alert(&#34;held&#34;)&lt;/script&gt;" in page
        assert json.loads(files.json.read_text())["inquiries"][0]["inquiry"]["message"] == (
            f"Hello {SCRIPT} & <b>bold</b>"
        )
        assert files.json.stat().st_mode & 0o777 == 0o600

    async def test_an_export_is_audited_by_kind_never_by_the_address(
        self, engine: AsyncEngine, settings: Settings, visitor: Visitor
    ) -> None:
        await exported(engine, settings, SelectorKind.EMAIL, "helene.tremblay@example.ca")
        async with engine.connect() as connection:
            details = list(
                await connection.scalars(
                    sa.select(audit_table.c.detail).where(audit_table.c.action == "privacy.export")
                )
            )
        assert len(details) == 1
        assert json.loads(details[0]) == {
            "selector": "email",
            "inquiries": list(visitor.references),
        }

    async def test_nobody_held_is_an_empty_export(
        self, engine: AsyncEngine, settings: Settings
    ) -> None:
        held = await exported(engine, settings, SelectorKind.REFERENCE, "INQ-AAAAAA")
        assert held["inquiries"] == []
        assert "No inquiry is held" in export.render_html(held, settings)
