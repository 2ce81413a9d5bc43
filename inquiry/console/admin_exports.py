"""The admin Exports page: the inquiries CSV with filters, as the staff API exports it.

The download is the API's export (export_rows, csv_text): no message bodies, times in clinic
time with their offset, the status, the call's status and its last outcome; with the byte
order mark Excel needs to show accents when asked. Every download is audited.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.console.admin import ADMIN_PATH, AdminDep, admin_page
from inquiry.console.pages import Console
from inquiry.console.text import day_start
from inquiry.models import InquiryStatus
from inquiry.staff.export_csv import csv_text
from inquiry.staff.inquiries import EXPORT_COLUMNS, StaffInquiries, export_rows
from inquiry.staff.search import InquiryFilter
from inquiry.triage.taxonomy import Priority, Topic

router = APIRouter(prefix=ADMIN_PATH, include_in_schema=False)
Text = Annotated[str, Query(max_length=20)]


def _filter(
    console: Console, status: str, topic: str, priority: str, since: str, until: str
) -> InquiryFilter | None:
    """The filters chosen, or None when one is not valid."""
    zone = ZoneInfo(console.settings.clinic_timezone)
    first = day_start(since, zone) if since else None
    end = day_start(until, zone, after=True) if until else None
    if (
        (status and status not in set(InquiryStatus))
        or (topic and topic not in set(Topic))
        or (priority and priority not in set(Priority))
        or (since and first is None)
        or (until and end is None)
    ):
        return None
    return InquiryFilter(
        statuses=(InquiryStatus(status),) if status else (),
        topic=Topic(topic) if topic else None,
        priority=Priority(priority) if priority else None,
        since=first,
        until=end,
    )


def _page(console: Console, chosen: dict[str, str], status_code: int = 200) -> HTMLResponse:
    return admin_page(
        console,
        "staff/admin/exports.html",
        "exports",
        status_code,
        statuses=[status.value for status in InquiryStatus],
        topics=[topic.value for topic in Topic],
        priorities=[priority.value for priority in Priority],
        chosen=chosen,
        invalid=status_code == 422,
        columns=EXPORT_COLUMNS,
    )


@router.get("/exports", response_class=HTMLResponse)
async def exports_page(console: AdminDep) -> HTMLResponse:
    """The export's filters and what it holds."""
    return _page(console, {})


@router.get("/exports/inquiries.csv")
async def inquiries_csv(
    console: AdminDep,
    status: Text = "",
    topic: Text = "",
    priority: Text = "",
    since: Text = "",
    until: Text = "",
    bom: Text = "",
) -> Response:
    """The inquiries chosen, as CSV (audited)."""
    filters = _filter(console, status, topic, priority, since, until)
    if filters is None:
        typed = {"status": status, "topic": topic, "priority": priority}
        return _page(console, {**typed, "since": since, "until": until, "bom": bom}, 422)
    inquiries = StaffInquiries(console.session, console.settings, console.caller)
    await inquiries.export_started(filters)
    engine: AsyncEngine = console.request.app.state.engine
    rows = export_rows(engine, filters, console.settings)
    return StreamingResponse(
        csv_text(EXPORT_COLUMNS, rows, bom=bom == "1"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="inquiries.csv"',
            "Cache-Control": "no-store",
        },
    )
