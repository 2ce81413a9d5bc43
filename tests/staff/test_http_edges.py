"""Staff routes at the HTTP edge: body size before authentication, ranges, error shapes, caching."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Scope

from tests.staff.fixtures import StaffUser

S = "/api/v1/staff"
LIMIT = 32 * 1024  # the default INQUIRY_MAX_BODY_BYTES


async def _chunks(total: int, size: int = 4096) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


class TestBodySize:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", f"{S}/session"),
            ("PATCH", f"{S}/accounts/1"),
            ("POST", f"{S}/callbacks/1/attempts"),
            ("DELETE", f"{S}/session"),
            ("GET", f"{S}/me"),
        ],
    )
    async def test_an_oversized_body_gets_413_before_authentication(
        self, client: httpx.AsyncClient, method: str, path: str
    ) -> None:
        response = await client.request(
            method, path, content=b"{" + b" " * LIMIT + b"}", headers={"content-type": "x/y"}
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

    async def test_an_oversized_chunked_body_gets_413(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{S}/session",
            content=_chunks(2 * LIMIT),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 413

    async def test_the_body_is_refused_as_it_streams_not_after_it_is_read(
        self, app: FastAPI
    ) -> None:
        """60 MB announced in chunks: reading stops a chunk past the limit."""
        chunk = b" " * 65536
        total = 60 * 1024 * 1024 // len(chunk)
        received = 0
        sent: list[Message] = []

        async def receive() -> Message:
            nonlocal received
            received += 1
            return {"type": "http.request", "body": chunk, "more_body": received < total}

        async def send(message: Message) -> None:
            sent.append(message)

        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": f"{S}/session",
            "raw_path": f"{S}/session".encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
            "client": ("203.0.113.7", 50000),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)

        assert sent[0]["status"] == 413
        assert received == 1

    async def test_a_body_within_the_limit_reaches_the_route(
        self, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        name = "N" * 100
        response = await client.patch(
            f"{S}/accounts/{admin.id}", headers=admin.headers, json={"name": name}
        )
        assert (response.status_code, response.json()["name"]) == (200, name)
