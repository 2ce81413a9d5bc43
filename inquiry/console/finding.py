"""Finding inquiries in the console: the header's Search, and the Inquiries list.

Both call StaffInquiries.page (audited as inquiry.list, a search by what it was, not whom it
named) with the staff API's filters; neither shows a message body.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from inquiry.auth import CONSOLE_PATH
from inquiry.console.pages import ConsoleDep, redirect
from inquiry.console.text import day_start
from inquiry.models import InquiryStatus, StaffRole
from inquiry.staff.inquiries import StaffInquiries
from inquiry.staff.search import InquiryFilter
from inquiry.staff.service import StaffService
from inquiry.triage.taxonomy import Priority, Topic

router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)
PAGE_SIZE = 50
SEARCH_SIZE = 50
Text = Annotated[str, Query(max_length=20)]


@router.get("/search", response_class=HTMLResponse)
async def search(console: ConsoleDep, q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """A reference, name, email or phone: one match opens it, several are listed."""
    text = q.strip()
    found = []
    if text:
        inquiries = StaffInquiries(console.session, console.settings, console.caller)
        found = await inquiries.page(InquiryFilter(q=text), limit=SEARCH_SIZE + 1, offset=0)
        if len(found) == 1:
            return redirect(f"{CONSOLE_PATH}/inquiries/{quote(found[0].reference, safe='')}")
    return console.page(
        "staff/search.html",
        q=text,
        inquiries=found[:SEARCH_SIZE],
        more=len(found) > SEARCH_SIZE,
    )


@router.get("/inquiries", response_class=HTMLResponse)
async def inquiries_page(
    console: ConsoleDep,
    status: Text = "",
    topic: Text = "",
    priority: Text = "",
    assignee: Text = "",
    since: Text = "",
    until: Text = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """Inquiries newest first, by status, topic, priority, assignee and arrival date (in
    clinic time, both days included); no message bodies."""
    zone = ZoneInfo(console.settings.clinic_timezone)
    start = day_start(since, zone) if since else None
    end = day_start(until, zone, after=True) if until else None
    bad_dates = [name for name, text, at in (("since", since, start), ("until", until, end))
                 if text and at is None]  # fmt: skip
    admin = console.staff.role == StaffRole.ADMIN
    colleagues = []
    if admin:
        colleagues = await StaffService(console.session, console.settings, console.caller).all()
    assignee_id: int | None = None
    if assignee == "me":
        assignee_id = console.staff.id
    elif admin and assignee.isdigit() and any(str(c.id) == assignee for c in colleagues):
        assignee_id = int(assignee)
    filters = InquiryFilter(
        statuses=(InquiryStatus(status),) if status in set(InquiryStatus) else (),
        assignee=assignee_id,
        unassigned=assignee == "none",
        topic=Topic(topic) if topic in set(Topic) else None,
        priority=Priority(priority) if priority in set(Priority) else None,
        since=start,
        until=end,
    )
    inquiries = StaffInquiries(console.session, console.settings, console.caller)
    offset = (page - 1) * PAGE_SIZE
    found = await inquiries.page(filters, limit=PAGE_SIZE + 1, offset=offset)
    chosen = {
        "status": status if filters.statuses else "",
        "topic": topic if filters.topic else "",
        "priority": priority if filters.priority else "",
        "assignee": assignee if (assignee_id or filters.unassigned) else "",
        "since": since if start else "",
        "until": until if end else "",
    }
    kept = {name: value for name, value in chosen.items() if value}
    return console.page(
        "staff/inquiries.html",
        inquiries=found[:PAGE_SIZE],
        chosen=chosen,
        bad_dates=bad_dates,
        statuses=list(InquiryStatus),
        topics=list(Topic),
        priorities=list(Priority),
        colleagues=colleagues,
        page_number=page,
        previous=urlencode({**kept, "page": page - 1}) if page > 1 else None,
        following=urlencode({**kept, "page": page + 1}) if len(found) > PAGE_SIZE else None,
    )
