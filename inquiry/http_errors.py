"""One JSON shape for every error answer: its model, how routes document it, and the handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from inquiry.errors import DatabaseUnavailable, InquiryError
from inquiry.field_errors import field_errors

log = logging.getLogger(__name__)

# Where a handler leaves the code of the error it answered, for the request metrics
# (an ASGI scope key of our own: the middleware reads it after the app has answered).
ERROR_CODE = "inquiry.error_code"

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

_STAFF_DESCRIPTIONS = {
    401: "not_authenticated: no valid bearer token; at sign-in, invalid_credentials, "
    "two_factor_required (send totp_code) or invalid_two_factor_code",
    403: "forbidden: the caller's role does not allow this; two_factor_enrolment_required: "
    "the signed-in session must enrol a second factor; session_required: not with an API token; "
    "wrong_password: the current password is not right",
    404: "No such id",
    409: "claim_conflict: someone else holds the task; transition_not_allowed: not from here; "
    "two_factor_not_enabled: there is no second factor to act on",
    422: "invalid_json: the body is not JSON in UTF-8; invalid_input: a field rule was broken, "
    "or a query parameter the route does not take was sent",
    429: "Too many failed sign-ins; see Retry-After",
    503: "sign_in_unavailable: the rate-limit store cannot be reached; sign_in_busy: too many "
    "sign-ins at once (see Retry-After)",
}


_NOT_JSON = {"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error", "input": {}}


class FieldError(BaseModel):
    field: str
    code: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one shape of every error answer: a stable `code` and a human message."""

    error: ErrorBody


def documented(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` for these statuses, each answered with an ErrorResponse."""
    return {
        status: {"model": ErrorResponse, "description": description}
        for status, description in sorted(descriptions.items())
    }


def errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` of a staff route for these statuses (401 is always possible)."""
    return documented({status: _STAFF_DESCRIPTIONS[status] for status in {401, *statuses}})


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    fields: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message, "fields": fields or []}}
    return Response(orjson.dumps(body), status_code, headers=headers, media_type="application/json")


def validation_response(error: RequestValidationError | ValidationError, language: str) -> Response:
    return _validation_answer(field_errors(error.errors(), language, drop_prefix=("body",)))


def _validation_code(fields: list[dict[str, str]]) -> str:
    return "invalid_json" if any(f["code"] == "invalid_json" for f in fields) else "invalid_input"


def _validation_answer(fields: list[dict[str, str]]) -> Response:
    code = _validation_code(fields)
    message = (
        "The request body is not valid JSON."
        if code == "invalid_json"
        else ("Some fields need attention.")
    )
    return error_response(422, code, message, fields=fields)


async def _on_inquiry_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, InquiryError)
    request.scope[ERROR_CODE] = error.code
    return error_response(error.status_code, error.code, error.message, headers=error.headers)


async def _on_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    fields = field_errors(error.errors(), "en", drop_prefix=("body",))
    request.scope[ERROR_CODE] = _validation_code(fields)
    return _validation_answer(fields)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and isinstance(error.__cause__, ValueError | RecursionError):
        # FastAPI's answer to a JSON body it could not decode (bytes that are not UTF-8,
        # nesting deeper than the parser recurses): the same answer intake gives.
        return validation_response(RequestValidationError([_NOT_JSON]), "en")
    code = _HTTP_CODES.get(error.status_code, "http_error")
    request.scope[ERROR_CODE] = code
    return error_response(error.status_code, code, str(error.detail), headers=error.headers)


def _lost_the_database(error: BaseException) -> bool:
    """A connection refused, cut or timed out, as opposed to a statement the database refused
    (a bug, which stays a 500)."""
    if isinstance(error, sa_exc.DBAPIError):
        return (
            error.connection_invalidated
            or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
            or (error.orig is not None and _lost_the_database(error.orig))
        )
    return isinstance(
        error,
        OSError
        | sa_exc.TimeoutError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.ConnectionDoesNotExistError,
    ) or (error.__cause__ is not None and _lost_the_database(error.__cause__))


async def _on_database_error(request: Request, error: Exception) -> Response:
    if not _lost_the_database(error):
        raise error
    # The type only: a database error's text can quote the statement and its values.
    log.warning(
        "%s %s: database unavailable (%s)", request.method, request.url.path, type(error).__name__
    )
    return await _on_inquiry_error(request, DatabaseUnavailable(headers={"Retry-After": "1"}))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InquiryError, _on_inquiry_error)
    app.add_exception_handler(sa_exc.DBAPIError, _on_database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _on_database_error)
    app.add_exception_handler(asyncpg.PostgresError, _on_database_error)
    app.add_exception_handler(asyncpg.InterfaceError, _on_database_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
