"""The admin console in headless Chromium: a colleague added who then signs in, spam
released then erased on request, the triage tester, and axe-core on every admin page in
both languages, on a desktop and on a 390 px phone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import valid_inquiry
from tests.web.conftest import DESKTOP, PHONE, accessibility_violations

pytestmark = pytest.mark.browser

EMAIL = "amira@ketaminetherapyclinic.ca"
PASSWORD = "correct horse battery staple 42"
ADMIN_PAGES = ("staff", "mail", "audit", "spam", "triage", "exports", "privacy")


@pytest.fixture
def live_server_env() -> dict[str, str]:
    return {"INQUIRY_RATE_LIMIT_ENABLED": "false", "INQUIRY_WORKER_IN_PROCESS": "false"}


@pytest.fixture
def admin(live_server: str, tmp_path: Path) -> str:
    """An admin account added on the command line, in the live server's folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INQUIRY_")}
    subprocess.run(
        [sys.executable, "-m", "inquiry", "staff", "add", EMAIL, "--role", "admin",
         "--password-stdin"],
        input=PASSWORD + "\n", text=True, cwd=tmp_path, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    return EMAIL


def sign_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def quarantined(live_server: str) -> str:
    body = valid_inquiry(preferred_contact="phone", website="x", name="Robot Spam")
    answer = httpx.post(f"{live_server}/api/v1/inquiries", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "390px"])
def test_admin_pages_work_and_pass_axe_in_both_languages(
    live_server: str, admin: str, browser: Browser, viewport: dict[str, int]
) -> None:
    spam = quarantined(live_server)
    context = browser.new_context(viewport=viewport, base_url=live_server)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto("/staff")
    sign_in(page, EMAIL, PASSWORD)
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff")

    page.get_by_label("Email").fill("samir@ketaminetherapyclinic.ca")
    page.get_by_label("Name").fill("Samir Haddad")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Password for Samir Haddad")
    password = page.locator("#password").inner_text()
    assert accessibility_violations(page) == []

    page.goto("/staff/admin/triage")
    page.get_by_label("Message").fill("I want to kill myself tonight.")
    page.get_by_role("button", name="Triage this").click()
    expect(page.get_by_role("definition").filter(has_text="Urgent")).to_be_visible()
    assert accessibility_violations(page) == []

    page.goto("/staff/admin/spam")
    expect(page.get_by_role("main")).to_contain_text("Robot Spam")
    page.get_by_role("button", name=f"Not spam: {spam}").click()
    expect(page.get_by_role("status")).to_contain_text("Released")

    page.goto("/staff/admin/privacy")
    page.get_by_label("Find the person by").select_option("reference")
    page.get_by_label("Email, phone or reference").fill(spam)
    page.get_by_role("button", name="Erase…").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Erase these inquiries?")
    assert accessibility_violations(page) == []
    page.get_by_label("Who asks for the erasure").fill("The visitor, by phone")
    page.get_by_label("Why").fill("consent withdrawn")
    page.get_by_role("button", name="Erase permanently").click()
    expect(page.get_by_role("status")).to_contain_text(f"Erased {spam}.")

    for switch in ("Français", "English"):
        for path in [*(f"/staff/admin/{section}" for section in ADMIN_PAGES), "/staff/dashboard"]:
            page.goto(path)
            assert accessibility_violations(page) == [], path
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= viewport["width"], f"{path} is {wide} px wide"
        with page.expect_navigation():
            page.get_by_role("button", name=switch).click()
    context.close()

    colleague = browser.new_context(viewport=viewport, base_url=live_server)  # type: ignore[arg-type]
    page = colleague.new_page()
    page.goto("/staff")
    sign_in(page, "samir@ketaminetherapyclinic.ca", password)
    expect(page.get_by_role("heading", level=1)).to_have_text("Callback queue")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("img", name="Inquiries a day by topic, last 30 days")).to_be_visible()
    page.get_by_text("Table view").click()
    expect(page.get_by_role("table")).to_be_visible()
    assert accessibility_violations(page) == []
    colleague.close()
