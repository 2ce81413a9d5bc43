"""The API documentation: served by the service itself, public, for staff only, or off."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from inquiry.api_docs import ASSETS
from inquiry.app import create_app
from inquiry.models import StaffRole
from tests.conftest import make_settings
from tests.staff.fixtures import make_staff

PRODUCTION = {"environment": "production", "secret_key": "s" * 40}


@pytest.fixture
async def docs_app(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[FastAPI]:
    """The app with the settings the test is parametrised with."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    application = create_app(make_settings(database_url, tmp_path, **overrides))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(docs_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=docs_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _linked(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


class TestPublicDocs:
    async def test_the_page_links_only_to_files_the_service_serves(
        self, http: httpx.AsyncClient
    ) -> None:
        page = await http.get("/docs")
        assert page.status_code == 200
        links = _linked(page.text)
        assert sorted(links) == [
            "/docs/assets/favicon-32x32.png",
            "/docs/assets/swagger-ui-bundle.js",
            "/docs/assets/swagger-ui.css",
        ]
        assert "http://" not in page.text
        assert "https://" not in page.text
        assert "validatorUrl" in page.text  # the validator badge would call out
        for link in links:
            asset = await http.get(link)
            assert asset.status_code == 200
            assert asset.content == (ASSETS / link.rsplit("/", 1)[1]).read_bytes()
        schema = await http.get("/openapi.json")
        assert "/api/v1/inquiries" in schema.json()["paths"]

    async def test_files_are_served_by_name_only(self, http: httpx.AsyncClient) -> None:
        for name in ("LICENSE", "README.md", "..%2F__init__.py", "swagger-ui.js"):
            assert (await http.get(f"/docs/assets/{name}")).status_code == 404
        css = await http.get("/docs/assets/swagger-ui.css")
        assert css.headers["content-type"].startswith("text/css")
        assert "max-age" in css.headers["cache-control"]

    async def test_redoc_which_needs_a_cdn_is_not_offered(self, http: httpx.AsyncClient) -> None:
        assert (await http.get("/redoc")).status_code == 404


@pytest.mark.parametrize(
    "docs_app",
    [PRODUCTION, {"api_docs": "off"}],
    indirect=True,
    ids=["production-default", "off"],
)
class TestDocsOff:
    async def test_nothing_is_served(self, http: httpx.AsyncClient) -> None:
        for path in ("/docs", "/openapi.json", "/staff/docs", "/staff/openapi.json"):
            assert (await http.get(path)).status_code == 404, path


@pytest.mark.parametrize("docs_app", [{**PRODUCTION, "api_docs": "public"}], indirect=True)
async def test_production_may_publish_them_on_purpose(http: httpx.AsyncClient) -> None:
    assert (await http.get("/docs")).status_code == 200
    assert (await http.get("/openapi.json")).status_code == 200


@pytest.mark.parametrize("docs_app", [{**PRODUCTION, "api_docs": "staff"}], indirect=True)
class TestStaffDocs:
    async def test_only_signed_in_staff_see_them(
        self, docs_app: FastAPI, http: httpx.AsyncClient
    ) -> None:
        assert (await http.get("/docs")).status_code == 404
        assert (await http.get("/openapi.json")).status_code == 404
        for path in ("/staff/docs", "/staff/openapi.json"):
            refused = await http.get(path)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "not_authenticated"
        agent = await make_staff(docs_app, "agent@ketaminetherapyclinic.ca", StaffRole.AGENT)
        page = await http.get("/staff/docs", headers=agent.headers)
        assert page.status_code == 200
        assert "/staff/openapi.json" in page.text
        assert all(link.startswith("/staff/docs/assets/") for link in _linked(page.text))
        schema = await http.get("/staff/openapi.json", headers=agent.headers)
        assert "/api/v1/inquiries" in schema.json()["paths"]
        # Swagger UI's own files, the same for everyone.
        assert (await http.get("/staff/docs/assets/swagger-ui.css")).status_code == 200
