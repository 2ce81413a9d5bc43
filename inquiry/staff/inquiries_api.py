"""Staff API over inquiries: list, read, override the triage, and the CSV export (admins)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from inquiry.auth import CallerDep, authenticate, require_admin, require_second_factor
from inquiry.deps import EngineDep, Offset, RowId, SessionDep, SettingsDep
from inquiry.http_errors import errors
from inquiry.models import InquiryStatus
from inquiry.staff.inquiries import EXPORT_COLUMNS, InquiryFilter, StaffInquiries, export_rows
from inquiry.staff.schemas import InquiryDetail, InquiryPage, InquirySummary, TriageOverrideIn
from inquiry.triage.taxonomy import Priority, Topic

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff"],
    dependencies=[Depends(authenticate), Depends(require_second_factor)],
)

# Spreadsheets run cells that start with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def get_inquiries(
    session: SessionDep, settings: SettingsDep, caller: CallerDep
) -> StaffInquiries:
    return StaffInquiries(session, settings, caller)


InquiriesDep = Annotated[StaffInquiries, Depends(get_inquiries)]


async def get_filter(
    topic: Topic | None = None,
    priority: Priority | None = None,
    status: InquiryStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> InquiryFilter:
    """Filters by topic, priority, status and arrival time (since ≤ created_at < until)."""
    return InquiryFilter(topic=topic, priority=priority, status=status, since=since, until=until)


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


@router.get("/inquiries/{inquiry_id}", response_model=InquiryDetail, responses=errors(404))
async def read_inquiry(inquiry_id: RowId, inquiries: InquiriesDep) -> InquiryDetail:
    """One inquiry, with its message, triage reasons, overrides and callback status."""
    return InquiryDetail.of_view(await inquiries.read(inquiry_id))


@router.post(
    "/inquiries/{inquiry_id}/triage",
    response_model=InquiryDetail,
    responses=errors(404, 409, 422),
)
async def override_triage(
    inquiry_id: RowId, body: TriageOverrideIn, inquiries: InquiriesDep
) -> InquiryDetail:
    """Correct the triage; old and new values and who did it are kept."""
    view = await inquiries.override_triage(
        inquiry_id, topic=body.topic, priority=body.priority, reason=body.reason
    )
    return InquiryDetail.of_view(view)


@router.get(
    "/exports/inquiries.csv",
    response_class=StreamingResponse,
    responses={**errors(403, 422), 200: {"content": {"text/csv": {}}}},
    dependencies=[Depends(require_admin)],
)
async def export_inquiries(
    inquiries: InquiriesDep, filters: FilterDep, engine: EngineDep
) -> StreamingResponse:
    """Inquiries as CSV, streamed (admins; the export is audited; no message bodies)."""
    inquiries.export_started(filters)
    return StreamingResponse(
        _csv(export_rows(engine, filters)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="inquiries.csv"'},
    )


def safe_cell(value: Any) -> str:
    """The cell as text, with a leading apostrophe when a spreadsheet would run it."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


async def _csv(rows: AsyncIterator[list[Any]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    async for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
