"""The error answers staff routes document (one shape: ErrorResponse)."""

from __future__ import annotations

from inquiry.intake.schemas import ErrorResponse

_DESCRIPTIONS = {
    401: "No valid bearer token",
    403: "The caller's role does not allow this",
    404: "No such id",
    409: "claim_conflict: someone else holds the task; transition_not_allowed: not from here",
    422: "A field rule was broken",
    429: "Too many failed sign-ins; see Retry-After",
}


def errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` for these statuses (401 is always possible)."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in sorted({401, *statuses})
    }
