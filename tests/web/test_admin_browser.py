"""The admin console in headless Chromium: a colleague added who then signs in, spam
released then erased on request, the triage tester, and axe-core on every admin page in
both languages, on a desktop and on a 390 px phone; then, with mail going to an SMTP server
on loopback, a failed message retried that arrives, a released spam inquiry that is
acknowledged and called, and the dashboard's figures of that call."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, expect

from tests.conftest import free_port, running_server, valid_inquiry
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
    add_admin(tmp_path)
    return EMAIL


def add_admin(folder: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INQUIRY_")}
    subprocess.run(
        [sys.executable, "-m", "inquiry", "staff", "add", EMAIL, "--role", "admin",
         "--password-stdin"],
        input=PASSWORD + "\n", text=True, cwd=folder, env=env, check=True,
        capture_output=True,
    )  # fmt: skip


def sign_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def submitted(live_server: str, **body: Any) -> str:
    answer = httpx.post(f"{live_server}/api/v1/inquiries", json=valid_inquiry(**body), timeout=10)
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


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
    page.get_by_text("Table view").first.click()
    per_day = "Inquiries a day by topic, last 30 days"
    expect(page.get_by_role("table", name=per_day)).to_be_visible()
    assert accessibility_violations(page) == []
    colleague.close()


class RefusingSink:
    """An SMTP server on loopback that refuses every message for good (550) while
    `refusing`, and records the Message-IDs it accepts."""

    def __init__(self) -> None:
        self.refusing = True
        self.accepted: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.refusing:
            return "550 5.7.1 Refused by the test server"
        found = re.search(rb"^Message-ID:\s*(\S+)", envelope.content, re.MULTILINE | re.I)
        with self.lock:
            self.accepted.append(found.group(1).decode() if found else "")
        return "250 2.0.0 OK"

    def received(self) -> list[str]:
        with self.lock:
            return list(self.accepted)


@pytest.fixture
def smtp_sink() -> Iterator[tuple[RefusingSink, int]]:
    sink, port = RefusingSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def test_retried_mail_arrives_released_spam_is_answered_and_the_dashboard_shows_it(
    tmp_path: Path, smtp_sink: tuple[RefusingSink, int], browser: Browser
) -> None:
    sink, port = smtp_sink
    env = {
        "INQUIRY_RATE_LIMIT_ENABLED": "false",
        "INQUIRY_WORKER_IN_PROCESS": "true",
        "INQUIRY_MAIL_TRANSPORT": "smtp",
        "INQUIRY_SMTP_HOST": "127.0.0.1",
        "INQUIRY_SMTP_PORT": str(port),
        "INQUIRY_OUTBOX_POLL_SECONDS": "0.5",
    }
    with running_server(tmp_path, env) as server:
        add_admin(tmp_path)
        first = submitted(server.base, preferred_contact="phone")
        acknowledgement = f"<{first}.visitor_acknowledgement@"
        context = browser.new_context(viewport=DESKTOP, base_url=server.base)
        page = context.new_page()
        page.goto("/staff/admin/mail")
        sign_in(page, EMAIL, PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Mail")
        dead = page.get_by_role("row").filter(has_text=first)
        acknowledged = dead.filter(has_text="visitor_acknowledgement")

        def both_dead() -> bool:
            page.reload()
            return dead.count() == 2

        eventually(both_dead, "the refused messages are dead")
        sink.refusing = False
        acknowledged.get_by_role("button", name=re.compile(r"^Retry message \d+$")).click()
        expect(page.get_by_role("status")).to_have_text("Messages queued again: 1.")
        eventually(
            lambda: any(m.startswith(acknowledgement) for m in sink.received()),
            "the retried acknowledgement arrives",
        )
        assert len(sink.received()) == 1  # the admin email, not retried, stays dead
        page.reload()
        expect(dead).to_have_count(1)
        expect(acknowledged).to_have_count(0)

        spam = quarantined(server.base)
        page.goto("/staff/admin/spam")
        page.get_by_role("button", name=f"Not spam: {spam}").click()
        expect(page.get_by_role("status")).to_contain_text("Released")
        eventually(
            lambda: any(m.startswith(f"<{spam}.visitor_acknowledgement@") for m in sink.received()),
            "the released inquiry's acknowledgement arrives",
        )
        page.goto("/staff")
        expect(page.get_by_role("main")).to_contain_text("Robot Spam")

        # A first call on the first inquiry, long before it was due.
        page.get_by_role("button", name="Next call").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Call Marie Tremblay")
        page.get_by_role("button", name="No answer").click()
        expect(page.get_by_role("status")).to_have_text("Recorded: No answer.")

        page.goto("/staff/dashboard")
        main = page.get_by_role("main")
        expect(main).to_contain_text("Service level, last 7 days")
        expect(main).to_contain_text("100% (1 of 1 tasks first attempted on time)")
        chart = "Median time to first attempt by priority, last 30 days"
        expect(page.get_by_role("img", name=chart)).to_be_visible()
        page.get_by_text("Table view").nth(1).click()
        table = page.get_by_role("table", name=chart)
        expect(table).to_be_visible()
        normal = table.get_by_role("row", name=re.compile("^Normal"))
        expect(normal.get_by_role("cell")).to_have_text(["1", re.compile(r"^\d+ min$")])
        expect(table.get_by_role("row", name=re.compile("^Urgent"))).to_contain_text(
            "No attempt yet"
        )
        assert accessibility_violations(page) == []
        with page.expect_navigation():
            page.get_by_role("button", name="Français").click()
        expect(main).to_contain_text("Niveau de service, 7 derniers jours")
        assert accessibility_violations(page) == []
        context.close()
