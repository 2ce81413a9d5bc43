"""The admin Spam page: the quarantine with its reasons, Not spam and Delete.

Not spam is the lifecycle's release (Casework.release, as the API's /not-spam): the inquiry is
new again, triaged again, acknowledged and given its call. Delete is the privacy erasure of
that one inquiry (inquiry.privacy.erase), with its tombstone and audit entries.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.console.admin import ADMIN_PATH, AdminDep, admin_page
from inquiry.console.pages import Console, redirect
from inquiry.errors import InquiryError
from inquiry.models import MAX_ROW_ID, CloseReason
from inquiry.privacy import erase
from inquiry.privacy.selector import Selector, SelectorKind
from inquiry.staff.casework import Casework
from inquiry.staff.inquiries import StaffInquiries
from inquiry.staff.search import InquiryFilter, reference_in

router = APIRouter(prefix=ADMIN_PATH, include_in_schema=False)
SPAM_PATH = f"{ADMIN_PATH}/spam"
PAGE_SIZE = 50
SHOWN_MESSAGE = 600  # characters of the message shown to judge it
ERASE_REASON = "spam deleted from the quarantine"
_NOTICES = ("released", "deleted")
_PROBLEMS = ("gone", "not_quarantined")
Reference = Annotated[str, Path(max_length=40)]


def _reasons(stored: str) -> list[str]:
    try:
        reasons = json.loads(stored)
    except ValueError:
        return []
    return [str(reason) for reason in reasons] if isinstance(reasons, list) else []


@router.get("/spam", response_class=HTMLResponse)
async def spam_page(
    console: AdminDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    notice: Annotated[str, Query(max_length=20)] = "",
    problem: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """The quarantined inquiries not yet erased, newest first, with why they were held (the
    listing is audited)."""
    inquiries = StaffInquiries(console.session, console.settings, console.caller)
    found = await inquiries.page(
        InquiryFilter(reason=CloseReason.SPAM, unredacted=True), limit=PAGE_SIZE + 1, offset=offset
    )
    return admin_page(
        console,
        "staff/admin/spam.html",
        "spam",
        held=[(inquiry, _reasons(inquiry.triage_reasons)) for inquiry in found[:PAGE_SIZE]],
        shown_message=SHOWN_MESSAGE,
        offset=offset,
        newer=max(offset - PAGE_SIZE, 0) if offset else None,
        older=offset + PAGE_SIZE if len(found) > PAGE_SIZE else None,
        notice=notice if notice in _NOTICES else None,
        problem=problem if problem in _PROBLEMS else None,
    )


async def _quarantined(console: Console, reference: str) -> str | None:
    """The stored reference when it names an inquiry still in quarantine."""
    wanted = reference_in(reference)
    if wanted is None:
        return None
    inquiries = StaffInquiries(console.session, console.settings, console.caller)
    spam = InquiryFilter(reason=CloseReason.SPAM, q=wanted, unredacted=True)
    found = await inquiries.page(spam, limit=1, offset=0)
    return wanted if found and found[0].reference == wanted else None


@router.post("/spam/{reference}/release")
async def not_spam(reference: Reference, console: AdminDep) -> Response:
    """Not spam: out of quarantine, acknowledged and called as if it had just arrived."""
    await console.form()
    wanted = await _quarantined(console, reference)
    if wanted is None:
        return redirect(SPAM_PATH, problem="not_quarantined")
    try:
        await Casework(console.session, console.settings, console.caller).release(wanted)
    except InquiryError:
        await console.session.rollback()
        return redirect(SPAM_PATH, problem="not_quarantined")
    return redirect(SPAM_PATH, notice="released")


@router.post("/spam/{reference}/delete")
async def delete(reference: Reference, console: AdminDep) -> Response:
    """Delete: erase the quarantined inquiry, keeping its tombstone and audit trail."""
    await console.form()
    wanted = await _quarantined(console, reference)
    if wanted is None:
        return redirect(SPAM_PATH, problem="not_quarantined")
    planned = await erase.plan(
        console.session, console.settings, Selector(SelectorKind.REFERENCE, wanted)
    )
    # The erasure runs in a transaction of its own: end this one first (SQLite has one writer).
    await console.session.commit()
    engine: AsyncEngine = console.request.app.state.engine
    await erase.erase(
        engine,
        console.settings,
        console.caller,
        planned,
        erased_by=console.staff.email,
        reason=ERASE_REASON,
    )
    return redirect(SPAM_PATH, notice="deleted")
