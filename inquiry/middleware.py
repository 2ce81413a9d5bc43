"""Pure ASGI guards in front of the app: body size, content type, security headers, request
ids, access log and request metrics.

Pure ASGI rather than BaseHTTPMiddleware: it costs a few microseconds a request, not a task.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inquiry.errors import InquiryError, PayloadTooLarge, UnsupportedMediaType
from inquiry.http_errors import ERROR_CODE, error_response
from inquiry.logs import ACCESS_LOG, REQUEST_ID
from inquiry.metrics import UNMATCHED, Metrics

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_TYPES = ("application/json",)
STAFF_PATHS = ("/api/v1/staff/", "/staff/")

# An X-Request-ID from the proxy is kept when it looks like an id (a UUID, nginx's
# $request_id); anything else is replaced, so a header cannot write arbitrary text to the log.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
# The code a refusal is counted under when no handler named it: the hosted form answers with
# pages, not error objects, and the status says which refusal it was.
_REFUSAL_OF_STATUS = {
    403: "origin_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
    503: "storage_unavailable",
}


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


class RequestGuard:
    """Refuses oversized and wrongly typed bodies before any parsing; logs without bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        content_types: dict[str, tuple[str, ...]],
        frame_ancestors: Iterable[str],
        submissions: dict[str, str] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.content_types = content_types
        # Paths that take submissions, and the source their refusals are counted under.
        self.submissions = submissions or {}
        self.metrics = metrics
        ancestors = " ".join(["'self'", *frame_ancestors])
        common = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
        # Pages of the hosted form may be framed by the clinic's site; nothing else may.
        self.embeddable = [
            *common,
            (b"content-security-policy", f"frame-ancestors {ancestors}".encode()),
        ]
        self.not_embeddable = [*common, (b"content-security-policy", b"frame-ancestors 'none'")]
        # Staff answers hold health information and tokens: no cache, shared or private.
        self.staff = [*self.not_embeddable, (b"cache-control", b"no-store")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        status = 500
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        if path.startswith("/forms/"):
            page_headers = self.embeddable
        elif path.startswith(STAFF_PATHS) or path == "/staff":
            page_headers = self.staff
        else:
            page_headers = self.not_embeddable
        extra = [*page_headers, (b"x-request-id", request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in extra if header[0] not in present]
                message["headers"] = headers
            await send(message)

        try:
            if method == "POST" and path in self.content_types:
                receive = await self._guarded_body(scope, receive, self.content_types[path])
            elif _has_body(scope):
                # Every other route too, before any route reads it or checks a token: a
                # framework parses a whole body before a dependency can answer 401.
                receive = await self._bounded_body(scope, receive)
            await self.app(scope, receive, send_with_headers)
        except InquiryError as error:
            scope[ERROR_CODE] = error.code
            response = error_response(error.status_code, error.code, error.message)
            await response(scope, receive, send_with_headers)
        except _ClientGone:
            status = 499  # nobody left to answer; logged as nginx does
        finally:
            REQUEST_ID.reset(token)
            seconds = time.perf_counter() - started
            # The template the request matched, never its path: paths carry ids. It is
            # written as the API's documentation writes it, without convertors ("{task_id}",
            # not "{task_id:int}"). A body refused here never reached the router, but its
            # path is a fixed one.
            route = getattr(scope.get("route"), "path_format", None) or (
                path if path in self.content_types else UNMATCHED
            )
            # Path only: query strings can carry references, and bodies are health information.
            ACCESS_LOG.record(method, path, status, seconds * 1000, route, request_id)
            if self.metrics is not None:
                self.metrics.request(method, route, status, seconds)
                source = self.submissions.get(path) if method == "POST" else None
                if source is not None and status >= 400 and status != 499:
                    code = scope.get(ERROR_CODE) or _REFUSAL_OF_STATUS.get(status, str(status))
                    self.metrics.refused(source, code)

    async def _guarded_body(
        self, scope: Scope, receive: Receive, allowed: tuple[str, ...]
    ) -> Receive:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if content_type.split(";", 1)[0].strip() not in allowed:
            raise UnsupportedMediaType("Send this as " + " or ".join(allowed) + ".")
        return await self._bounded_body(scope, receive)

    async def _bounded_body(self, scope: Scope, receive: Receive) -> Receive:
        """The whole body, read here up to the limit, handed on as one message."""
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            raise PayloadTooLarge()
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone  # never hand on half a body as if it were whole
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge()
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def _request_id(scope: Scope) -> str:
    """The proxy's X-Request-ID when it is a plausible id, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
            break
    return secrets.token_hex(16)


def document_body_limit(document: dict[str, Any], max_body_bytes: int) -> dict[str, Any]:
    """Declare the guard's 413 on every operation of an OpenAPI document: it bounds the body
    of any request, before a route is matched."""
    answer = {
        "description": f"payload_too_large: the body is over {max_body_bytes} bytes",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("413", answer)
    return document


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length" and value != b"0":
            return True
        if name == b"transfer-encoding":
            return True
    return False
