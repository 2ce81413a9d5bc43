"""Staff routes at the HTTP edge: body size before authentication, ranges, error shapes, caching."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Scope

from tests.staff.fixtures import StaffUser, seed_task, staff_routes

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


BEYOND = (2**31, 2**63)  # past PostgreSQL's INTEGER, and past any 64-bit integer


class TestRanges:
    @pytest.mark.parametrize("number", BEYOND)
    async def test_ids_beyond_the_database_range_are_refused_not_a_server_error(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser, number: int
    ) -> None:
        tried = 0
        for method, path, _ in staff_routes(app):
            if "{" not in path:
                continue
            url = path.format(
                staff_id=number, token_id=number, task_id=number, inquiry_id=number, inquiry=number
            )
            body: dict[str, object] | None = {} if method in {"POST", "PATCH"} else None
            response = await client.request(method, url, json=body, headers=admin.headers)
            assert response.status_code in (404, 422), (method, url, response.text)
            tried += 1
        assert tried >= 12

    @pytest.mark.parametrize("number", BEYOND)
    @pytest.mark.parametrize(
        "url",
        [
            f"{S}/inquiries?offset={{n}}",
            f"{S}/callbacks?offset={{n}}",
            f"{S}/audit?offset={{n}}",
            f"{S}/audit?staff_id={{n}}",
        ],
    )
    async def test_offsets_and_filters_beyond_the_range_get_422(
        self, client: httpx.AsyncClient, admin: StaffUser, url: str, number: int
    ) -> None:
        response = await client.get(url.format(n=number), headers=admin.headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_input"

    async def test_a_reassignment_to_an_id_beyond_the_range_gets_422(
        self, app: FastAPI, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        _, task_id = await seed_task(app)
        response = await client.post(
            f"{S}/callbacks/{task_id}/reassign", json={"staff_id": 2**63}, headers=admin.headers
        )
        assert response.status_code == 422, response.text


class TestErrorShapes:
    @pytest.mark.parametrize(
        "content", [b'{"email": "caf\xe9@clinic.ca", "password": "x"}', b"[" * 30000]
    )
    async def test_a_body_that_is_not_json_in_utf8_gets_the_intake_422(
        self, client: httpx.AsyncClient, content: bytes
    ) -> None:
        response = await client.post(
            f"{S}/session", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_json"
        assert error["fields"] == [
            {"field": "", "code": "invalid_json", "message": "The request body is not valid JSON."}
        ]

    async def test_the_staff_api_documents_invalid_json(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        answers = document["paths"][f"{S}/session"]["post"]["responses"]
        assert "invalid_json" in answers["422"]["description"]
        assert "sign_in_unavailable" in answers["503"]["description"]


class TestCaching:
    async def test_every_staff_answer_is_marked_no_store(
        self, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        answers = [
            await client.get(f"{S}/me", headers=admin.headers),
            await client.get(f"{S}/audit", headers=admin.headers),
            await client.get(f"{S}/exports/inquiries.csv", headers=admin.headers),
            await client.get(f"{S}/inquiries/999", headers=admin.headers),
            await client.get(f"{S}/me"),
            await client.post(f"{S}/session", json={"email": "a@b.ca", "password": "x"}),
        ]
        assert [r.status_code for r in answers] == [200, 200, 200, 404, 401, 401]
        assert {r.headers.get("cache-control") for r in answers} == {"no-store"}

    async def test_public_answers_keep_their_own_caching(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.headers.get("cache-control") != "no-store"
