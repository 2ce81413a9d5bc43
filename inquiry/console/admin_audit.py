"""The admin Audit log page: the log filtered by staff member, action, inquiry and dates,
newest first, with names and references in place of ids, and the same view as CSV.

It reads through inquiry.audit.entries as the staff API's /audit does, and records the read
(`audit.read`) or the download (`audit.export`) with its filters.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from inquiry import audit
from inquiry.console.admin import ADMIN_PATH, AdminDep, admin_page
from inquiry.console.admin_text import ADMIN_TEXT
from inquiry.console.pages import Console
from inquiry.console.text import day_start
from inquiry.errors import NotFound
from inquiry.models import MAX_ROW_ID, AuditEntry, Staff, as_utc
from inquiry.staff.export_csv import safe_cell
from inquiry.staff.search import inquiry_id_of, reference_in, references_of
from inquiry.staff.service import StaffService

router = APIRouter(prefix=ADMIN_PATH, include_in_schema=False)
PAGE_SIZE = 50
CSV_LIMIT = 10_000
CSV_COLUMNS = ["at", "staff", "action", "target", "client_ip", "detail"]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """The filters as typed, and as the log is queried; `valid` is False for a bad one."""

    staff: str
    action: str
    reference: str
    since: str
    until: str
    valid: bool = True
    staff_id: int | None = None
    inquiry_id: str | None = None
    from_at: datetime | None = None
    to_at: datetime | None = None
    empty: bool = False  # a reference of no inquiry: nothing can match

    @property
    def shown(self) -> dict[str, str]:
        typed = {
            "staff": self.staff,
            "action": self.action,
            "reference": self.reference,
            "since": self.since,
            "until": self.until,
        }
        return {key: value for key, value in typed.items() if value}


Text = Annotated[str, Query(max_length=40)]


async def audit_filter(
    console: AdminDep,
    staff: Text = "",
    action: Text = "",
    reference: Text = "",
    since: Text = "",
    until: Text = "",
) -> AuditFilter:
    """The filters of the page and its CSV, read from the query and resolved for the log."""
    typed = AuditFilter(staff, action.strip(), reference.strip(), since, until)
    zone = ZoneInfo(console.settings.clinic_timezone)
    staff_id = int(staff) if staff.isdigit() and 1 <= int(staff) <= MAX_ROW_ID else None
    first = day_start(since, zone) if since else None
    end = day_start(until, zone, after=True) if until else None
    wanted = reference_in(typed.reference) if typed.reference else None
    if (
        (staff and staff_id is None)
        or (since and first is None)
        or (until and end is None)
        or (typed.reference and wanted is None)
    ):
        return replace(typed, valid=False)
    inquiry_id, empty = None, False
    if wanted is not None:
        try:
            inquiry_id = str(await inquiry_id_of(console.session, wanted))
        except NotFound:
            empty = True
    return AuditFilter(
        staff,
        typed.action,
        typed.reference,
        since,
        until,
        staff_id=staff_id,
        inquiry_id=inquiry_id,
        from_at=first,
        to_at=end,
        empty=empty,
    )


AuditFilterDep = Annotated[AuditFilter, Depends(audit_filter)]


async def _entries(
    console: Console, chosen: AuditFilter, limit: int, offset: int
) -> list[AuditEntry]:
    if not chosen.valid or chosen.empty:
        return []
    return await audit.entries(
        console.session,
        staff_id=chosen.staff_id,
        action=chosen.action or None,
        target_type="inquiry" if chosen.inquiry_id else None,
        target_id=chosen.inquiry_id,
        since=chosen.from_at,
        until=chosen.to_at,
        limit=limit,
        offset=offset,
    )


@dataclass(frozen=True, slots=True)
class Line:
    """An audit entry as read: who by name, what it was about by name or reference."""

    entry: AuditEntry
    who: str
    target: str


async def _lines(console: Console, entries: list[AuditEntry], members: list[Staff]) -> list[Line]:
    names = {member.id: member.name or member.email for member in members}
    inquiry_ids = {
        int(entry.target_id)
        for entry in entries
        if entry.target_type == "inquiry" and entry.target_id and entry.target_id.isdigit()
    }
    references = await references_of(console.session, inquiry_ids)
    nobody = ADMIN_TEXT[console.language]["command_line"]

    def target(entry: AuditEntry) -> str:
        if entry.target_type is None or entry.target_id is None:
            return ""
        if entry.target_type == "staff" and entry.target_id.isdigit():
            return names.get(int(entry.target_id), entry.target_id)
        if entry.target_type == "inquiry" and entry.target_id.isdigit():
            return references.get(int(entry.target_id), entry.target_id)
        return f"{entry.target_type} {entry.target_id}"

    return [
        Line(entry, names.get(entry.staff_id, nobody) if entry.staff_id else nobody, target(entry))
        for entry in entries
    ]


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    console: AdminDep,
    chosen: AuditFilterDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> HTMLResponse:
    """The audit log, newest first, a page at a time; reading it is audited."""
    found = await _entries(console, chosen, PAGE_SIZE + 1, offset)
    members = await StaffService(console.session, console.settings, console.caller).all()
    audit.record(console.session, console.caller, "audit.read", filters=chosen.shown)
    return admin_page(
        console,
        "staff/admin/audit.html",
        "audit",
        200 if chosen.valid else 422,
        lines=await _lines(console, found[:PAGE_SIZE], members),
        members=members,
        chosen=chosen,
        offset=offset,
        newer=max(offset - PAGE_SIZE, 0) if offset else None,
        older=offset + PAGE_SIZE if len(found) > PAGE_SIZE else None,
        page_size=PAGE_SIZE,
    )


@router.get("/audit.csv")
async def audit_csv(console: AdminDep, chosen: AuditFilterDep) -> Response:
    """The filtered log as CSV (the newest 10,000 entries), times in clinic time; audited."""
    if not chosen.valid:
        return await audit_page(console, chosen)
    entries = await _entries(console, chosen, CSV_LIMIT, 0)
    members = await StaffService(console.session, console.settings, console.caller).all()
    lines = await _lines(console, entries, members)
    audit.record(
        console.session, console.caller, "audit.export", filters=chosen.shown, rows=len(lines)
    )
    zone = ZoneInfo(console.settings.clinic_timezone)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        entry = line.entry
        row = [
            as_utc(entry.at).astimezone(zone).isoformat(timespec="seconds"),
            line.who,
            entry.action,
            line.target,
            entry.client_ip,
            entry.detail,
        ]
        writer.writerow([safe_cell(value) for value in row])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        },
    )
