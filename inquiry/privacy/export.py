"""Access requests: everything held about a person, as JSON and as a readable HTML page.

For each inquiry the selector names: the inquiry as stored, its callback task and attempts,
staff notes, status history, triage corrections, the mail owed on it (with the copy the file
transport kept, if any), its erasure tombstone, and who read or changed it (the audit log).
The export is audited; its files are readable by their owner only.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry import mail_files, outbox
from inquiry.audit import Caller, record
from inquiry.callbacks.models import attempt_table, task_table
from inquiry.config import Settings
from inquiry.lifecycle.models import status_change_table
from inquiry.models import as_utc, audit_table, inquiry_table
from inquiry.privacy.models import erasure_table
from inquiry.privacy.selector import Selector, inquiry_ids
from inquiry.staff.models import note_table, override_table

FORMAT = "inquiry-privacy-export/1"


@dataclass(frozen=True, slots=True)
class ExportFiles:
    json: Path
    html: Path


async def gather(
    session: AsyncSession, settings: Settings, caller: Caller, selector: Selector
) -> dict[str, Any]:
    """Everything held about the person `selector` names (audited as privacy.export)."""
    inquiries = []
    for inquiry_id in await inquiry_ids(session, selector):
        inquiries.append(await _inquiry(session, settings, inquiry_id))
    record(
        session,
        caller,
        "privacy.export",
        None,
        selector=selector.kind.value,
        inquiries=[inquiry["inquiry"]["reference"] for inquiry in inquiries],
    )
    return {
        "format": FORMAT,
        "clinic": settings.clinic_name,
        "generated_at": _plain(caller.now),
        "selector": {"kind": selector.kind.value, "value": selector.value},
        "inquiries": inquiries,
    }


async def _inquiry(session: AsyncSession, settings: Settings, inquiry_id: int) -> dict[str, Any]:
    tasks = sa.select(task_table.c.id).where(task_table.c.inquiry_id == inquiry_id)
    mail = [_plained(row) for row in await outbox.messages_of(session, inquiry_id)]
    copies = await asyncio.to_thread(_copies, settings.mail_dir, [m["message_id"] for m in mail])
    for message in mail:
        message["mail_file"] = copies.get(message["message_id"])
    (inquiry,) = await _rows(session, inquiry_table, inquiry_table.c.id == inquiry_id)
    return {
        "inquiry": inquiry,
        "callback_tasks": await _rows(session, task_table, task_table.c.inquiry_id == inquiry_id),
        "callback_attempts": await _rows(
            session, attempt_table, attempt_table.c.task_id.in_(tasks)
        ),
        "notes": await _rows(session, note_table, note_table.c.inquiry_id == inquiry_id),
        "status_changes": await _rows(
            session, status_change_table, status_change_table.c.inquiry_id == inquiry_id
        ),
        "triage_corrections": await _rows(
            session, override_table, override_table.c.inquiry_id == inquiry_id
        ),
        "emails": mail,
        "erasure": await _rows(session, erasure_table, erasure_table.c.inquiry_id == inquiry_id),
        "access_log": await _rows(
            session,
            audit_table,
            audit_table.c.target_type == "inquiry",
            audit_table.c.target_id == str(inquiry_id),
        ),
    }


async def _rows(
    session: AsyncSession, table: sa.Table, *where: sa.ColumnElement[bool]
) -> list[dict[str, Any]]:
    query = sa.select(table).where(*where).order_by(*table.primary_key.columns)
    return [_plained(row._mapping) for row in await session.execute(query)]


def _plained(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(name): _plain(value) for name, value in row.items()}


def _plain(value: object) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


def _copies(folder: Path, message_ids: list[str]) -> dict[str, str]:
    """The text of each message's mail file, where the file transport still keeps one."""
    copies = {}
    for message_id in message_ids:
        for path in mail_files.files_of(folder, [message_id]):
            copies[message_id] = path.read_text(encoding="utf-8", errors="replace")
    return copies


def render_html(export: dict[str, Any], settings: Settings) -> str:
    """The export as a page a person can read (everything in it escaped)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.templates_dir / "privacy"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("export.html").render(export=export)


def write(export: dict[str, Any], settings: Settings, folder: Path) -> ExportFiles:
    """Write the export as JSON and HTML into `folder`, readable by their owner only; never
    over an existing file."""
    stamp = export["generated_at"][:19].replace("-", "").replace(":", "")
    base = f"privacy-export-{export['selector']['kind']}-{stamp}Z"
    files = ExportFiles(folder / f"{base}.json", folder / f"{base}.html")
    folder.mkdir(parents=True, exist_ok=True)
    _write_new(files.json, json.dumps(export, ensure_ascii=False, indent=2) + "\n")
    _write_new(files.html, render_html(export, settings))
    return files


def _write_new(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
