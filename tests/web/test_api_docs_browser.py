"""Swagger UI in Chromium with no way out of the service: the API documentation works offline."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

pytestmark = pytest.mark.browser


@pytest.fixture
def offline_requests(browser: Browser, live_server: str) -> Iterator[tuple[Page, list[str]]]:
    """A page on which any request that would leave the service is refused and noted."""
    context = browser.new_context()
    outside: list[str] = []

    def only_the_service(route: Route, request: Request) -> None:
        if request.url.startswith(live_server):
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    context.route("**/*", only_the_service)
    yield context.new_page(), outside
    context.close()


def test_swagger_ui_renders_with_no_request_leaving_the_service(
    live_server: str, offline_requests: tuple[Page, list[str]]
) -> None:
    page, outside = offline_requests
    page.goto(f"{live_server}/docs")
    expect(page.get_by_text("Submit an inquiry")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("inquiry"))).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert outside == []
