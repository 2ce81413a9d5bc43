"""The JSON intake API used by the clinic website's script."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from inquiry.deps import IntakeDep, guard_submission
from inquiry.intake.schemas import ErrorResponse, InquiryAccepted, InquiryIn

router = APIRouter(prefix="/api/v1", tags=["intake"])

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        403: "Posted from a web page whose origin is not allowed",
        413: "Body too large",
        415: "Not application/json",
        422: "A field rule was broken, or the Idempotency-Key was reused with another body",
        429: "Rate limited; see Retry-After",
        503: "Could not be stored just now; safe to retry with the same Idempotency-Key",
    }.items()
}


@router.post(
    "/inquiries",
    dependencies=[Depends(guard_submission)],
    status_code=201,
    response_model=InquiryAccepted,
    responses=_ERRORS,
    summary="Submit an inquiry",
)
async def create_inquiry(
    inquiry: InquiryIn,
    intake: IntakeDep,
    idempotency_key: Annotated[
        # 196: stored as "api:<key>" in a 200-character column.
        str | None, Header(min_length=8, max_length=196, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> Response:
    """Store an inquiry with everything owed on it; a repeated Idempotency-Key replays."""
    accepted = await intake.accept(
        inquiry,
        source="api",
        idempotency_key=f"api:{idempotency_key}" if idempotency_key else None,
        status_code=201,
        render=lambda answer: answer.model_dump_json().encode(),
    )
    outcome = accepted.outcome
    headers = {"Idempotency-Replayed": "true"} if outcome.replayed else None
    return Response(
        outcome.body, outcome.status_code, headers=headers, media_type="application/json"
    )
