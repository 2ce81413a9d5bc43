"""The console's queue and call screen: the callback service's operations as pages.

Each page calls the same service methods as the callbacks API (so reads and changes are
audited the same way) and holds no SQL. Every action is a form post answered with a
redirect; a refused step comes back as `?problem=<code>` on the call screen.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from inquiry.auth import CONSOLE_PATH
from inquiry.callbacks.models import AttemptOutcome, Channel, TaskStatus
from inquiry.callbacks.service import CallbackService, holder, outcomes
from inquiry.console.pages import Console, ConsoleDep, redirect
from inquiry.deps import RowId
from inquiry.errors import InquiryError, NotFound
from inquiry.staff.inquiries import StaffInquiries
from inquiry.triage.taxonomy import Priority

router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)
QUEUE_SIZE = 50  # the first calls in order; Next call always takes the first
_NOTICES = ("empty", "released", "rescheduled")


def _callbacks(console: Console) -> CallbackService:
    return CallbackService(
        console.session, console.settings, console.caller, console.request.app.state.metrics
    )


@router.get("", response_class=HTMLResponse)
async def queue_page(
    console: ConsoleDep,
    mine: Annotated[str, Query(max_length=5)] = "",
    priority: Annotated[str, Query(max_length=10)] = "",
    channel: Annotated[str, Query(max_length=10)] = "",
    notice: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """The open tasks in call order (urgent first), with the Next call button; urgent calls
    that ran out of attempts, awaiting an admin's decision, are shown apart above them."""
    chosen = Priority(priority) if priority in set(Priority) else None
    by = Channel(channel) if channel in set(Channel) else None
    views = await _callbacks(console).page(
        statuses=None,
        mine=mine == "1",
        on_call=None,
        priority=chosen,
        channel=by,
        limit=QUEUE_SIZE,
        offset=0,
    )
    now = console.credentials.now
    rows = [(view, holder(view.task, now)) for view in views]
    return console.page(
        "staff/queue.html",
        awaiting=[row for row in rows if row[0].task.status == TaskStatus.AWAITING_DECISION],
        tasks=[row for row in rows if row[0].task.status != TaskStatus.AWAITING_DECISION],
        mine=mine == "1",
        priority=chosen.value if chosen else "",
        priorities=list(Priority),
        channel=by.value if by else "",
        channels=list(Channel),
        notice=notice if notice in _NOTICES else None,
    )


@router.get("/queue/version")
async def queue_version(console: ConsoleDep) -> JSONResponse:
    """What an open queue page polls, to fetch itself again only when the queue changed."""
    version = await _callbacks(console).queue_version(shown=QUEUE_SIZE)
    return JSONResponse({"version": version}, headers={"Cache-Control": "no-store"})


@router.post("/next")
async def next_call(console: ConsoleDep) -> Response:
    """Claim the next task in queue order and open its call screen."""
    await console.form()
    task = await _callbacks(console).claim_next()
    if task is None:
        return redirect(CONSOLE_PATH, notice="empty")
    return redirect(f"{CONSOLE_PATH}/tasks/{task.id}")


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def call_screen(
    task_id: RowId,
    console: ConsoleDep,
    problem: Annotated[str, Query(max_length=40)] = "",
    recorded: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """Everything needed to make the call, and the outcome buttons."""
    try:
        view = await _callbacks(console).read(task_id)
    except NotFound:
        return console.page("staff/problem.html", 404, problem="problem_not_found")
    inquiry = await StaffInquiries(console.session, console.settings, console.caller).read(
        view.reference
    )
    task = view.task
    now = console.credentials.now
    held_by = holder(task, now)
    active = task.status in (TaskStatus.OPEN, TaskStatus.CLAIMED)
    return console.page(
        "staff/task.html",
        view=view,
        task=task,
        inquiry=inquiry.inquiry,
        reasons=reasons_of(inquiry.inquiry.triage_reasons),
        active=active,
        mine=held_by == console.staff.id,
        held_by_other=held_by is not None and held_by != console.staff.id,
        outcomes=outcomes(task),
        problem=_problem(problem),
        recorded=recorded if recorded in set(AttemptOutcome) else None,
        zone=console.settings.clinic_timezone,
    )


@router.post("/tasks/{task_id}/claim")
async def claim(task_id: RowId, console: ConsoleDep) -> Response:
    await console.form()
    refused = await _refused(console, task_id, _callbacks(console).claim(task_id))
    return refused or _screen(task_id)


@router.post("/tasks/{task_id}/release")
async def release(task_id: RowId, console: ConsoleDep) -> Response:
    """Give the call back to the queue."""
    await console.form()
    refused = await _refused(console, task_id, _callbacks(console).release(task_id))
    return refused or redirect(CONSOLE_PATH, notice="released")


@router.post("/tasks/{task_id}/attempt")
async def attempt(task_id: RowId, console: ConsoleDep) -> Response:
    """Record the call's outcome (the button pressed) with the note."""
    form = await console.form()
    value, note = str(form.get("outcome", "")), str(form.get("note", "")).strip()
    if value not in set(AttemptOutcome) or len(note) > 1000:
        return _screen(task_id, problem="transition_not_allowed")
    keep_open = form.get("keep_open") == "true"
    step = _callbacks(console).attempt(task_id, AttemptOutcome(value), note, keep_open=keep_open)
    return await _refused(console, task_id, step) or _screen(task_id, recorded=value)


@router.post("/tasks/{task_id}/reschedule")
async def reschedule(task_id: RowId, console: ConsoleDep) -> Response:
    """Put the call back in the queue at a time typed in clinic time."""
    form = await console.form()
    try:
        local = datetime.fromisoformat(str(form.get("at", "")))
    except ValueError:
        return _screen(task_id, problem="invalid_schedule")
    at = local.replace(tzinfo=ZoneInfo(console.settings.clinic_timezone))
    reason = str(form.get("reason", "")).strip()
    if len(reason) > _REASON_MAX:
        return _screen(task_id, problem="refused")
    step = _callbacks(console).reschedule(task_id, at, reason)
    refused = await _refused(console, task_id, step)
    return refused or redirect(CONSOLE_PATH, notice="rescheduled")


def _screen(task_id: int, **query: str) -> Response:
    return redirect(f"{CONSOLE_PATH}/tasks/{task_id}", **query)


async def _refused(console: Console, task_id: int, step: Awaitable[object]) -> Response | None:
    """Run one service call; its refusal (nothing changed) comes back on the call screen."""
    try:
        await step
    except InquiryError as error:
        await console.session.rollback()
        return _screen(task_id, problem=error.code)
    return None


_REASON_MAX = 500  # callback_task.reschedule_reason

_PROBLEMS = {
    "problem_claim_conflict",
    "problem_transition_not_allowed",
    "problem_invalid_schedule",
    "problem_not_found",
    "problem_reason_required",
    "problem_forbidden",
}


def _problem(code: str) -> str | None:
    """The message key for a refusal; any other refusal still says that nothing changed."""
    if not code:
        return None
    key = f"problem_{code}"
    return key if key in _PROBLEMS else "problem_refused"


def reasons_of(stored: str) -> list[str]:
    try:
        reasons = json.loads(stored)
    except ValueError:
        return []
    return [str(reason) for reason in reasons] if isinstance(reasons, list) else []
