"""The inquiry page: everything about one inquiry, and what staff do to carry it to an end.

Reads go through StaffInquiries (audited as inquiry.read) and the outbox's own read of the
messages owed on it; every action is a form post to one Casework or StaffInquiries method,
answered with a redirect back to the page, `?problem=<code>` when the step was refused
(nothing changed) or `?done=<action>` when it was made.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response

from inquiry.auth import CONSOLE_PATH
from inquiry.callbacks.service import CallbackService
from inquiry.console.calls import reasons_of
from inquiry.console.pages import Console, ConsoleDep, redirect
from inquiry.errors import InquiryError, NotFound
from inquiry.lifecycle import TRANSITIONS, allowed
from inquiry.models import CloseReason, InquiryStatus, StaffRole
from inquiry.outbox import messages_of
from inquiry.staff.casework import Casework
from inquiry.staff.inquiries import StaffInquiries
from inquiry.staff.service import StaffService
from inquiry.triage.taxonomy import Priority, Topic

router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)
Reference = Annotated[str, Path(max_length=40)]
NOTE_MAX = 5000
REASON_MAX = 500
# What staff choose on the page; `new` is reached only by Not spam.
CHOSEN = (InquiryStatus.IN_PROGRESS, InquiryStatus.WAITING, InquiryStatus.CLOSED)
CLOSE_REASONS = list(CloseReason)
PROBLEMS = frozenset(
    {
        "transition_not_allowed",
        "invalid_status_change",
        "invalid_schedule",
        "assigned_elsewhere",
        "forbidden",
        "not_found",
        "note_empty",
        "override_empty",
    }
)
DONE = frozenset({"status", "note", "assign", "triage", "not_spam", "unlink"})


def page_of(reference: str, **query: str) -> Response:
    return redirect(f"{CONSOLE_PATH}/inquiries/{quote(reference, safe='')}", **query)


def moves(status: str, close_reason: str | None) -> list[InquiryStatus]:
    """The statuses the lifecycle's table lets staff move this inquiry to, in table order."""
    current = InquiryStatus(status)
    targets = [to for (start, to) in TRANSITIONS if start is current and to in CHOSEN]
    return [to for to in dict.fromkeys(targets) if allowed(current, close_reason, to)]


@router.get("/inquiries/{reference}", response_class=HTMLResponse)
async def inquiry_page(
    reference: Reference,
    console: ConsoleDep,
    problem: Annotated[str, Query(max_length=40)] = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """The page emailed staff links open: contact, triage, status, notes, task, emails."""
    try:
        view = await StaffInquiries(console.session, console.settings, console.caller).read(
            reference
        )
    except NotFound:
        return console.page("staff/problem.html", 404, problem="problem_not_found")
    inquiry = view.inquiry
    assert inquiry.id is not None
    task = None
    if view.task is not None:
        callbacks = CallbackService(
            console.session, console.settings, console.caller, console.request.app.state.metrics
        )
        task = await callbacks.view(view.task, with_attempts=True)
    colleagues: list[Any] = []
    if console.staff.role == StaffRole.ADMIN:
        accounts = StaffService(console.session, console.settings, console.caller)
        colleagues = [staff for staff in await accounts.all() if staff.active]
    quarantined = (
        inquiry.status == InquiryStatus.CLOSED and inquiry.close_reason == CloseReason.SPAM
    )
    mine = inquiry.assignee_id == console.staff.id
    return console.page(
        "staff/inquiry.html",
        view=view,
        inquiry=inquiry,
        task=task,
        reasons=reasons_of(inquiry.triage_reasons),
        moves=moves(inquiry.status, inquiry.close_reason),
        close_reasons=CLOSE_REASONS,
        quarantined=quarantined,
        may_take=not mine and inquiry.assignee_id is None,
        mine=mine,
        colleagues=colleagues,
        topics=list(Topic),
        priorities=list(Priority),
        emails=await messages_of(console.session, inquiry.id),
        problem=_problem(problem),
        done=f"done_{done}" if done in DONE else None,
    )


def _problem(code: str) -> str | None:
    if code == "transition_not_allowed":
        return "problem_inquiry_move"
    return f"problem_{code}" if code in PROBLEMS else None


async def _step(console: Console, reference: str, done: str, step: Awaitable[object]) -> Response:
    """Run one service call: a refusal rolls everything back and says why on the page."""
    try:
        await step
    except InquiryError as error:
        await console.session.rollback()
        return page_of(reference, problem=_code(error))
    return page_of(reference, done=done)


def _code(error: InquiryError) -> str:
    return error.code if error.code in PROBLEMS else "transition_not_allowed"


def _casework(console: Console) -> Casework:
    return Casework(console.session, console.settings, console.caller)


@router.post("/inquiries/{reference}/status")
async def change_status(reference: Reference, console: ConsoleDep) -> Response:
    """Move the inquiry to the status of the button pressed (a reason to close, a date to
    wait until)."""
    form = await console.form()
    to, note = str(form.get("status", "")), str(form.get("note", "")).strip()
    if to not in {s.value for s in CHOSEN} or len(note) > NOTE_MAX:
        return page_of(reference, problem="invalid_status_change")
    reason: CloseReason | None = None
    until: date | None = None
    if to == InquiryStatus.CLOSED:
        chosen = str(form.get("reason", ""))
        if chosen not in set(CloseReason):
            return page_of(reference, problem="invalid_status_change")
        reason = CloseReason(chosen)
    if to == InquiryStatus.WAITING:
        try:
            until = date.fromisoformat(str(form.get("until", "")))
        except ValueError:
            return page_of(reference, problem="invalid_schedule")
    step = _casework(console).change_status(
        reference, InquiryStatus(to), reason=reason, until=until, note=note or None
    )
    return await _step(console, reference, "status", step)


@router.post("/inquiries/{reference}/notes")
async def add_note(reference: Reference, console: ConsoleDep) -> Response:
    """Add an internal note (never sent to the visitor)."""
    form = await console.form()
    text = str(form.get("text", "")).strip()
    if not text or len(text) > NOTE_MAX:
        return page_of(reference, problem="note_empty")
    return await _step(console, reference, "note", _casework(console).add_note(reference, text))


@router.post("/inquiries/{reference}/assign")
async def assign(reference: Reference, console: ConsoleDep) -> Response:
    """Assign to me, give back (nobody), or, for admins, to any colleague."""
    form = await console.form()
    value = str(form.get("staff_id", ""))
    if value == "me":
        staff_id: int | None = console.staff.id
    elif value == "none":
        staff_id = None
    elif value.isdigit() and len(value) <= 10:
        staff_id = int(value)
    else:
        return page_of(reference, problem="not_found")
    step = _casework(console).assign(reference, staff_id)
    return await _step(console, reference, "assign", step)


@router.post("/inquiries/{reference}/triage")
async def override_triage(reference: Reference, console: ConsoleDep) -> Response:
    """Correct the topic and/or priority, with the reason (old and new are kept)."""
    form = await console.form()
    topic_value, priority_value = str(form.get("topic", "")), str(form.get("priority", ""))
    reason = str(form.get("reason", "")).strip()
    topic = Topic(topic_value) if topic_value in set(Topic) else None
    priority = Priority(priority_value) if priority_value in set(Priority) else None
    if (topic is None and priority is None) or not reason or len(reason) > REASON_MAX:
        return page_of(reference, problem="override_empty")
    inquiries = StaffInquiries(console.session, console.settings, console.caller)
    step = inquiries.override_triage(reference, topic=topic, priority=priority, reason=reason)
    return await _step(console, reference, "triage", step)


@router.post("/inquiries/{reference}/not-spam")
async def not_spam(reference: Reference, console: ConsoleDep) -> Response:
    """Release a quarantined inquiry: new again, triaged again, given the call it owes."""
    await console.form()
    step = _casework(console).release(reference)
    return await _step(console, reference, "not_spam", step)


@router.post("/inquiries/{reference}/unlink")
async def unlink(reference: Reference, console: ConsoleDep) -> Response:
    """Undo a duplicate link: this inquiry stands on its own again, with the task it owes.

    Posted from either page of the link; `back` names the one to return to.
    """
    form = await console.form()
    back = str(form.get("back", ""))[:40] or reference
    try:
        await _casework(console).unlink(reference)
    except InquiryError as error:
        await console.session.rollback()
        return page_of(back, problem=_code(error))
    return page_of(back, done="unlink")
