"""Staff API over inquiries: list and search, read, override the triage, change the status,
notes, assignment, release from quarantine, and the CSV export (admins).

Wherever an inquiry is named, its id or its reference will do (`/inquiries/INQ-7F3K9Q`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import StreamingResponse

from inquiry.audit import Caller
from inquiry.auth import CallerDep, authenticate, require_admin, require_second_factor
from inquiry.deps import EngineDep, Offset, SessionDep, SettingsDep
from inquiry.http_errors import errors
from inquiry.models import CloseReason, InquiryStatus
from inquiry.query_params import Instant, refuse_unknown_query
from inquiry.staff.casework import Casework
from inquiry.staff.export_csv import csv_text
from inquiry.staff.inquiries import EXPORT_COLUMNS, StaffInquiries, export_rows, view_of
from inquiry.staff.schemas import (
    AssignIn,
    InquiryDetail,
    InquiryPage,
    InquirySummary,
    NoteIn,
    NoteOut,
    NotSpamIn,
    StatusIn,
    TriageOverrideIn,
)
from inquiry.staff.search import InquiryFilter
from inquiry.triage.taxonomy import Priority, Topic

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff"],
    dependencies=[
        Depends(authenticate),
        Depends(require_second_factor),
        Depends(refuse_unknown_query),
    ],
    responses=errors(422),  # an unknown query parameter
)


InquiryKey = Annotated[
    str,
    Path(
        pattern=r"^([0-9]{1,10}|[Ii][Nn][Qq]-?[A-Za-z0-9]{6})$",
        description="The inquiry's id, or its reference (INQ-7F3K9Q)",
    ),
]


async def get_inquiries(
    session: SessionDep, settings: SettingsDep, caller: CallerDep
) -> StaffInquiries:
    return StaffInquiries(session, settings, caller)


async def get_casework(session: SessionDep, settings: SettingsDep, caller: CallerDep) -> Casework:
    return Casework(session, settings, caller)


InquiriesDep = Annotated[StaffInquiries, Depends(get_inquiries)]
CaseworkDep = Annotated[Casework, Depends(get_casework)]


async def get_filter(
    caller: CallerDep,
    status: Annotated[list[InquiryStatus] | None, Query()] = None,
    reason: CloseReason | None = None,
    assignee: Annotated[
        str | None, Query(pattern=r"^(me|none|[0-9]{1,10})$", description="an id, me or none")
    ] = None,
    topic: Topic | None = None,
    priority: Priority | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="a reference, a name, an email or a phone number"),
    ] = None,
) -> InquiryFilter:
    """Filters by status (repeatable), close reason, assignee, topic, priority, arrival time
    (since ≤ created_at < until), and a search."""
    return InquiryFilter(
        statuses=tuple(status or ()),
        reason=reason,
        assignee=_assignee(assignee, caller),
        unassigned=assignee == "none",
        topic=topic,
        priority=priority,
        since=since,
        until=until,
        q=q.strip() if q and q.strip() else None,
    )


def _assignee(value: str | None, caller: Caller) -> int | None:
    if value is None or value == "none":
        return None
    if value == "me":
        return caller.staff_id
    return int(value)


FilterDep = Annotated[InquiryFilter, Depends(get_filter)]


@router.get("/inquiries", response_model=InquiryPage, responses=errors(422))
async def list_inquiries(
    inquiries: InquiriesDep,
    filters: FilterDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> InquiryPage:
    """Inquiries, newest first (no message bodies in the list)."""
    page = await inquiries.page(filters, limit=limit, offset=offset)
    return InquiryPage(inquiries=[InquirySummary.of(i) for i in page], limit=limit, offset=offset)


@router.get("/inquiries/{inquiry}", response_model=InquiryDetail, responses=errors(404, 422))
async def read_inquiry(inquiry: InquiryKey, inquiries: InquiriesDep) -> InquiryDetail:
    """One inquiry, with its message, triage, callback, notes, status history and assignee."""
    return InquiryDetail.of_view(await inquiries.read(inquiry))


@router.post(
    "/inquiries/{inquiry}/triage",
    response_model=InquiryDetail,
    responses=errors(404, 409, 422),
)
async def override_triage(
    inquiry: InquiryKey, body: TriageOverrideIn, inquiries: InquiriesDep
) -> InquiryDetail:
    """Correct the triage; old and new values and who did it are kept."""
    view = await inquiries.override_triage(
        inquiry, topic=body.topic, priority=body.priority, reason=body.reason
    )
    return InquiryDetail.of_view(view)


@router.post(
    "/inquiries/{inquiry}/status",
    response_model=InquiryDetail,
    responses=errors(403, 404, 409, 422),
)
async def change_status(
    inquiry: InquiryKey, body: StatusIn, casework: CaseworkDep, session: SessionDep
) -> InquiryDetail:
    """Move the inquiry: in progress, waiting until a date, or closed with a reason; 409
    transition_not_allowed for a move the lifecycle does not allow."""
    changed = await casework.change_status(
        inquiry,
        InquiryStatus(body.status),
        reason=body.reason,
        until=body.until,
        note=body.note or None,
    )
    return InquiryDetail.of_view(await view_of(session, changed))


@router.post(
    "/inquiries/{inquiry}/notes",
    status_code=201,
    response_model=NoteOut,
    responses=errors(404, 422),
)
async def add_note(
    inquiry: InquiryKey, body: NoteIn, casework: CaseworkDep, caller: CallerDep
) -> NoteOut:
    """Add an internal note (never sent to the visitor); a new inquiry is then in progress."""
    note = await casework.add_note(inquiry, body.text)
    assert caller.staff is not None
    return NoteOut.of(note, caller.staff)


@router.post(
    "/inquiries/{inquiry}/assign",
    response_model=InquiryDetail,
    responses=errors(403, 404, 409, 422),
)
async def assign(
    inquiry: InquiryKey, body: AssignIn, casework: CaseworkDep, session: SessionDep
) -> InquiryDetail:
    """Assign to a staff member, or to nobody (`null`): admins assign anyone; agents take an
    unassigned inquiry for themselves or give back their own (409 assigned_elsewhere)."""
    assigned = await casework.assign(inquiry, body.staff_id)
    return InquiryDetail.of_view(await view_of(session, assigned))


@router.post(
    "/inquiries/{inquiry}/not-spam",
    response_model=InquiryDetail,
    responses=errors(404, 409, 422),
)
async def not_spam(
    inquiry: InquiryKey,
    casework: CaseworkDep,
    session: SessionDep,
    body: Annotated[NotSpamIn | None, Body()] = None,
) -> InquiryDetail:
    """Release a quarantined inquiry (closed as spam): new again, triaged again (with the
    topic given, if any), acknowledged if it has an email address and never was, and given
    the call it owes."""
    released = await casework.release(inquiry, topic=body.topic if body else None)
    return InquiryDetail.of_view(await view_of(session, released))


@router.post(
    "/inquiries/{inquiry}/unlink",
    response_model=InquiryDetail,
    responses=errors(404, 409),
)
async def unlink(inquiry: InquiryKey, casework: CaseworkDep, session: SessionDep) -> InquiryDetail:
    """Undo a duplicate link: the inquiry stands on its own again, with the task it owes;
    409 transition_not_allowed when it is not linked."""
    unlinked = await casework.unlink(inquiry)
    return InquiryDetail.of_view(await view_of(session, unlinked))


@router.get(
    "/exports/inquiries.csv",
    response_class=StreamingResponse,
    responses={**errors(403, 422), 200: {"content": {"text/csv": {}}}},
    dependencies=[Depends(require_admin)],
)
async def export_inquiries(
    inquiries: InquiriesDep,
    filters: FilterDep,
    engine: EngineDep,
    settings: SettingsDep,
    bom: Annotated[
        bool, Query(description="start with a UTF-8 byte order mark (Excel then shows accents)")
    ] = False,
) -> StreamingResponse:
    """Inquiries as CSV, streamed (admins; the export is audited; no message bodies): times
    in clinic time with their offset, North American phone numbers in national format."""
    await inquiries.export_started(filters)
    return StreamingResponse(
        csv_text(EXPORT_COLUMNS, export_rows(engine, filters, settings), bom=bom),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="inquiries.csv"'},
    )
