"""The callback queue API of the phone team, under /api/v1/staff/callbacks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from inquiry.auth import CallerDep, authenticate, require_admin, require_second_factor
from inquiry.callbacks.models import Channel, TaskStatus
from inquiry.callbacks.schemas import (
    AttemptIn,
    CallbackPage,
    CallbackTaskOut,
    CancelIn,
    ClaimNextOut,
    DecisionIn,
    ReassignIn,
    RescheduleIn,
)
from inquiry.callbacks.service import CallbackService
from inquiry.deps import Offset, RowId, SessionDep, SettingsDep
from inquiry.http_errors import errors
from inquiry.query_params import refuse_unknown_query

router = APIRouter(
    prefix="/api/v1/staff/callbacks",
    tags=["callbacks"],
    dependencies=[
        Depends(authenticate),
        Depends(require_second_factor),
        Depends(refuse_unknown_query),
    ],
    responses=errors(422),  # an unknown query parameter
)


async def get_callbacks(
    request: Request, session: SessionDep, settings: SettingsDep, caller: CallerDep
) -> CallbackService:
    return CallbackService(session, settings, caller, request.app.state.metrics)


CallbacksDep = Annotated[CallbackService, Depends(get_callbacks)]
_TRANSITION = errors(404, 409)
# The task routes take `{task_id:int}`: only digits reach them, so GET /claim-next is not read
# as a task id (405, Allow: POST) and a word is 404. A number out of range stays RowId's 422.


@router.get("", response_model=CallbackPage, responses=errors(422))
async def list_callbacks(
    callbacks: CallbacksDep,
    caller: CallerDep,
    status: Annotated[list[TaskStatus] | None, Query()] = None,
    mine: bool = False,
    on_call: bool | None = None,
    channel: Channel | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> CallbackPage:
    """The queue in call order (urgent, overdue, due time, age) across both channels, or
    tasks with these statuses; `channel` keeps one channel (phone or email), `mine` the tasks
    the caller holds and those of the inquiries assigned to them."""
    views = await callbacks.page(
        statuses=status, mine=mine, on_call=on_call, channel=channel, limit=limit, offset=offset
    )
    tasks = [CallbackTaskOut.of(view, caller.now) for view in views]
    return CallbackPage(tasks=tasks, limit=limit, offset=offset)


@router.post("/claim-next", response_model=ClaimNextOut, responses=errors())
async def claim_next(callbacks: CallbacksDep, caller: CallerDep) -> ClaimNextOut:
    """Claim the first waiting task atomically; `{"task": null}` when the queue is empty."""
    task = await callbacks.claim_next()
    if task is None:
        return ClaimNextOut(task=None)
    return ClaimNextOut(task=CallbackTaskOut.of(await callbacks.view(task), caller.now))


@router.get("/{task_id:int}", response_model=CallbackTaskOut, responses=errors(404))
async def read_callback(
    task_id: RowId, callbacks: CallbacksDep, caller: CallerDep
) -> CallbackTaskOut:
    """One task with the history of its attempts."""
    return CallbackTaskOut.of(await callbacks.read(task_id), caller.now)


@router.post("/{task_id:int}/claim", response_model=CallbackTaskOut, responses=_TRANSITION)
async def claim(task_id: RowId, callbacks: CallbacksDep, caller: CallerDep) -> CallbackTaskOut:
    """Claim this task on a lease; claiming a task you hold renews the lease."""
    task = await callbacks.claim(task_id)
    return CallbackTaskOut.of(await callbacks.view(task), caller.now)


@router.post("/{task_id:int}/release", response_model=CallbackTaskOut, responses=_TRANSITION)
async def release(task_id: RowId, callbacks: CallbacksDep, caller: CallerDep) -> CallbackTaskOut:
    """Give a task you hold back to the queue."""
    task = await callbacks.release(task_id)
    return CallbackTaskOut.of(await callbacks.view(task), caller.now)


@router.post(
    "/{task_id:int}/attempts", response_model=CallbackTaskOut, responses=errors(404, 409, 422)
)
async def record_attempt(
    task_id: RowId, body: AttemptIn, callbacks: CallbacksDep, caller: CallerDep
) -> CallbackTaskOut:
    """Record a call on a task you hold: closes it, schedules the next try, or gives up."""
    task = await callbacks.attempt(task_id, body.outcome, body.note, keep_open=body.keep_open)
    return CallbackTaskOut.of(await callbacks.view(task, with_attempts=True), caller.now)


@router.post(
    "/{task_id:int}/reschedule",
    response_model=CallbackTaskOut,
    responses=errors(403, 404, 409, 422),
)
async def reschedule(
    task_id: RowId, body: RescheduleIn, callbacks: CallbacksDep, caller: CallerDep
) -> CallbackTaskOut:
    """Put the task back in the queue, not before the chosen time. Urgent and high calls
    need a reason; an urgent one beyond the next business day needs an admin."""
    task = await callbacks.reschedule(task_id, body.at, body.reason)
    return CallbackTaskOut.of(await callbacks.view(task), caller.now)


@router.post(
    "/{task_id:int}/cancel", response_model=CallbackTaskOut, responses=errors(404, 409, 422)
)
async def cancel(
    task_id: RowId, body: CancelIn, callbacks: CallbacksDep, caller: CallerDep
) -> CallbackTaskOut:
    """Cancel a task that nobody else holds, with a reason."""
    task = await callbacks.cancel(task_id, body.reason)
    return CallbackTaskOut.of(await callbacks.view(task), caller.now)


@router.post(
    "/{task_id:int}/reassign",
    response_model=CallbackTaskOut,
    responses=errors(403, 404, 409, 422),
    dependencies=[Depends(require_admin)],
)
async def reassign(
    task_id: RowId, body: ReassignIn, callbacks: CallbacksDep, caller: CallerDep
) -> CallbackTaskOut:
    """Hand a task to another staff member on a fresh lease (admins only)."""
    task = await callbacks.reassign(task_id, body.staff_id)
    return CallbackTaskOut.of(await callbacks.view(task), caller.now)


@router.post(
    "/{task_id:int}/decision",
    response_model=CallbackTaskOut,
    responses=errors(403, 404, 409, 422),
    dependencies=[Depends(require_admin)],
)
async def decide(
    task_id: RowId,
    body: DecisionIn,
    callbacks: CallbacksDep,
    caller: CallerDep,
) -> CallbackTaskOut:
    """Decide on an urgent call that ran out of attempts: close it with a reason, or allow
    more attempts (admins only)."""
    task = await callbacks.decide(
        task_id, close=body.decision == "close", reason=body.reason, attempts=body.attempts
    )
    return CallbackTaskOut.of(await callbacks.view(task), caller.now)
