"""One JSON shape for every error answer, and the handlers that produce it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from inquiry.errors import InquiryError
from inquiry.intake.messages import field_errors

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


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
    fields = field_errors(error.errors(), language, drop_prefix=("body",))
    code = "invalid_json" if any(f["code"] == "invalid_json" for f in fields) else "invalid_input"
    message = (
        "The request body is not valid JSON."
        if code == "invalid_json"
        else ("Some fields need attention.")
    )
    return error_response(422, code, message, fields=fields)


async def _on_inquiry_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, InquiryError)
    return error_response(error.status_code, error.code, error.message, headers=error.headers)


async def _on_validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return validation_response(error, "en")


async def _on_http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    return error_response(error.status_code, code, str(error.detail), headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InquiryError, _on_inquiry_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
