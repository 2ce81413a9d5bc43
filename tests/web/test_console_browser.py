"""The staff console in headless Chromium: a morning of calls, two-factor sign-in, French,
the keyboard, a 390 px phone, and axe-core on every page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import valid_inquiry
from tests.web.conftest import DESKTOP, PHONE, accessibility_violations

pytestmark = pytest.mark.browser

EMAIL = "nadia@ketaminetherapyclinic.ca"
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def live_server_env() -> dict[str, str]:
    return {"INQUIRY_RATE_LIMIT_ENABLED": "false", "INQUIRY_WORKER_IN_PROCESS": "false"}


@pytest.fixture
def agent(live_server: str, tmp_path: Path) -> str:
    """A staff account added on the command line, in the live server's folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INQUIRY_")}
    subprocess.run(
        [sys.executable, "-m", "inquiry", "staff", "add", EMAIL, "--role", "agent",
         "--password-stdin"],
        input=PASSWORD + "\n", text=True, cwd=tmp_path, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    return EMAIL


@pytest.fixture
def desktop(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=DESKTOP, base_url=live_server)
    yield context
    context.close()


def submit(live_server: str, **fields: object) -> str:
    """An inquiry posted to the public API, as the clinic's site posts it; its reference."""
    body = valid_inquiry(preferred_contact="phone", **fields)
    answer = httpx.post(f"{live_server}/api/v1/inquiries", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


def sign_in(page: Page, *, email: str = EMAIL, password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def no_violations(page: Page) -> None:
    assert accessibility_violations(page) == [], page.url


CRISIS = "I can't go on, I have pills saved and I am thinking of ending my life tonight."


class TestMorningOfCalls:
    def test_sign_in_from_an_emails_link_and_work_the_queue(
        self, live_server: str, agent: str, desktop: BrowserContext
    ) -> None:
        routine = submit(live_server, name="Marie Tremblay")
        # Another person (another address): the same one's would be linked to the first.
        submit(
            live_server, name="Sam Crisis", message=CRISIS, topic=None, phone="416-555-0123",
            email="sam@example.ca",
        )  # fmt: skip
        page = desktop.new_page()

        # The "Open in the inquiry service" link of an admin email, opened signed out.
        page.goto(f"/staff/inquiries/{routine}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        no_violations(page)
        sign_in(page, password="not the password")
        expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
        sign_in(page)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Inquiry {routine}")
        no_violations(page)

        page.get_by_role("link", name="Callback queue").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Callback queue")
        first = page.get_by_role("listitem").filter(has=page.locator(".task-name")).first
        expect(first).to_contain_text("Urgent")
        expect(first).to_contain_text("Sam Crisis")
        no_violations(page)

        page.get_by_role("button", name="Next call").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Call Sam Crisis")
        expect(page.get_by_role("link", name="+14165550123")).to_have_attribute(
            "href", "tel:+14165550123"
        )
        no_violations(page)
        page.get_by_label("Note (optional)").fill("No pickup; will try again")
        page.get_by_role("button", name="No answer").click()
        expect(page.get_by_role("status")).to_have_text("Recorded: No answer.")
        expect(page.get_by_role("main")).to_contain_text("No answer: No pickup; will try again")

        page.get_by_role("button", name="Next call").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Call Marie Tremblay")
        page.get_by_role("button", name="Reached").click()
        expect(page.get_by_role("status")).to_have_text("Recorded: Reached.")
        page.get_by_role("link", name=routine).click()
        expect(page.get_by_role("main")).to_contain_text("Closed (resolved)")

    def test_an_inquiry_from_its_link_to_resolved_then_search_and_not_spam(
        self, live_server: str, agent: str, desktop: BrowserContext
    ) -> None:
        reference = submit(live_server, name="Marie Tremblay", phone="416-555-0142")
        quarantined = submit(
            live_server, name="Sol Quarantine", email="sol@example.ca", phone="613-555-0100",
            website="https://seo.example",
        )  # fmt: skip
        page = desktop.new_page()
        page.goto(f"/staff/inquiries/{reference}")
        sign_in(page)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Inquiry {reference}")
        main = page.get_by_role("main")

        page.get_by_label("New note (staff only, never sent to the visitor)").fill("Asked her GP")
        page.get_by_role("button", name="Add note").click()
        expect(page.get_by_role("status")).to_have_text("The note was added.")
        expect(main).to_contain_text("Asked her GP")
        page.get_by_role("button", name="Assign to me").click()
        expect(page.get_by_role("status")).to_have_text("The assignment was changed.")
        expect(main).to_contain_text(f"Assigned to{agent}")
        page.get_by_label("Reason").select_option("resolved")
        page.get_by_role("button", name="Close", exact=True).click()
        expect(main).to_contain_text("Closed (resolved)")
        expect(page.get_by_role("button", name="Reopen")).to_be_visible()
        expect(page.get_by_role("button", name="Not spam")).to_have_count(0)
        no_violations(page)
        # Back to new is only for an inquiry closed as spam: a forged post is refused.
        csrf = page.locator("input[name=csrf_token]").first.input_value()
        refused = page.request.post(
            f"/staff/inquiries/{reference}/not-spam", form={"csrf_token": csrf}
        )
        page.goto(refused.url)
        expect(page.get_by_role("alert")).to_contain_text("This cannot be done to the inquiry")
        expect(main).to_contain_text("Closed (resolved)")

        page.get_by_role("searchbox", name="Search").fill("(416) 555 0142")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Inquiry {reference}")

        page.get_by_role("searchbox", name="Search").fill("sol quarantine")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Inquiry {quarantined}")
        expect(main).to_contain_text("This inquiry has no callback task.")
        page.get_by_role("button", name="Not spam").click()
        expect(page.get_by_role("status")).to_have_text("The inquiry was released from quarantine.")
        expect(page.get_by_role("link", name="Open its callback task")).to_be_visible()

        page.get_by_role("link", name="Inquiries").click()
        page.get_by_label("Status").select_option("closed")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("link", name="Marie Tremblay")).to_be_visible()
        expect(page.get_by_role("link", name="Sol Quarantine")).to_have_count(0)

    def test_my_account_french_and_a_password_change_signs_out_the_other_sessions(
        self, live_server: str, agent: str, browser: Browser, desktop: BrowserContext
    ) -> None:
        elsewhere = browser.new_context(viewport=DESKTOP, base_url=live_server)
        other = elsewhere.new_page()
        other.goto("/staff")
        sign_in(other)
        page = desktop.new_page()
        page.goto("/staff")
        sign_in(page)
        page.get_by_role("link", name="My account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("My account")
        page.get_by_label("Language of the console").select_option("fr")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
        page.get_by_label("Mot de passe actuel").fill(PASSWORD)
        page.get_by_label("Nouveau mot de passe").fill("a violet tram hums past the lighthouse 77")
        page.get_by_role("button", name="Changer le mot de passe").click()
        expect(page.get_by_role("status")).to_contain_text("Votre mot de passe a été changé")
        page.get_by_role("link", name="File de rappels").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("File de rappels")
        other.reload()
        expect(other.get_by_role("heading", level=1)).to_have_text("Sign in")
        elsewhere.close()

    def test_a_new_urgent_inquiry_appears_on_an_open_queue(
        self, live_server: str, agent: str, desktop: BrowserContext
    ) -> None:
        page = desktop.new_page()
        # Counts the tones the page plays.
        page.add_init_script(
            "window.chimes = 0; const made = AudioContext.prototype.createOscillator;"
            "AudioContext.prototype.createOscillator = function () {"
            " window.chimes += 1; return made.call(this); };"
        )
        page.goto("/staff")
        sign_in(page)
        expect(page.get_by_role("heading", level=1)).to_have_text("Callback queue")
        page.get_by_label("Play a sound when a new urgent call arrives").check()
        # The page has asked once what the queue is, so that what comes next is news.
        page.wait_for_function(
            "() => performance.getEntriesByType('resource')"
            ".some((entry) => entry.name.includes('/staff/queue/version'))"
        )
        started = time.monotonic()
        submit(live_server, name="Alex Urgent", message=CRISIS, topic=None)
        # The page asks every second; the bound here is loose for a busy machine, the time
        # it took is in the failure message.
        alert = page.get_by_role("alert")
        expect(alert).to_have_text("New urgent call in the queue: Alex Urgent.", timeout=10_000)
        expect(page.locator(".task-name").first).to_have_text("Alex Urgent")
        assert time.monotonic() - started < 10
        assert page.evaluate("window.chimes") == 1

    def test_a_form_post_without_the_csrf_token_is_refused(
        self, live_server: str, agent: str, desktop: BrowserContext
    ) -> None:
        submit(live_server)
        page = desktop.new_page()
        page.goto("/staff")
        sign_in(page)
        refused = page.request.post("/staff/next", form={"csrf_token": "forged"})
        assert refused.status == 403
        page.reload()
        expect(page.get_by_role("main")).not_to_contain_text("You hold it")


class TestTwoFactorInBrowser:
    def test_enrol_then_sign_in_with_the_code(
        self, live_server: str, agent: str, desktop: BrowserContext
    ) -> None:
        page = desktop.new_page()
        page.goto("/staff")
        sign_in(page)
        page.get_by_role("link", name="My account").click()
        page.get_by_role("link", name="Two-factor sign-in").click()
        no_violations(page)
        page.get_by_role("button", name="Set up an authenticator app").click()
        secret = page.locator("#secret").inner_text()
        expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
        no_violations(page)
        page.get_by_label("Code from your authenticator app").fill("000000")
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(page.get_by_label("Code from your authenticator app")).to_have_attribute(
            "aria-invalid", "true"
        )
        page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
        expect(page.locator(".codes li")).to_have_count(10)
        no_violations(page)

        page.get_by_role("button", name="Sign out").click()
        sign_in(page)
        expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in")
        no_violations(page)
        # The code of the next 30-second step: the one just used is good only once.
        page.get_by_label("Code from your authenticator app").fill(
            pyotp.TOTP(secret).at(time.time() + 30)
        )
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Callback queue")


class TestEveryPage:
    @pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "390px"])
    def test_no_accessibility_violations_in_either_language(
        self, live_server: str, agent: str, browser: Browser, viewport: dict[str, int]
    ) -> None:
        reference = submit(live_server)
        submit(live_server, message="Me again: please call me back about my first visit.")
        context = browser.new_context(viewport=viewport, base_url=live_server)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto("/staff/login")
        sign_in(page)
        page.get_by_role("button", name="Next call").click()
        task = page.url
        for switch, queue_heading in (
            ("Français", "File de rappels"),
            ("English", "Callback queue"),
        ):
            for path in (
                "/staff",
                task,
                f"/staff/inquiries/{reference}",
                "/staff/inquiries",
                "/staff/search?q=marie",
                "/staff/account",
                "/staff/account/two-factor",
            ):
                page.goto(path)
                no_violations(page)
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= viewport["width"], f"{path} is {wide} px wide"
            # The switch is kept on the account: every page after it is in the other language.
            with page.expect_navigation():
                page.get_by_role("button", name=switch).click()
            page.goto("/staff")
            expect(page.get_by_role("heading", level=1)).to_have_text(queue_heading)
        page.get_by_role("button", name="Sign out").click()
        for lang in ("en", "fr"):
            page.goto(f"/staff/login?lang={lang}")
            no_violations(page)
        context.close()

    def test_the_keyboard_alone_works_the_queue(
        self, live_server: str, agent: str, desktop: BrowserContext
    ) -> None:
        submit(live_server, name="Keyboard Caller")
        page = desktop.new_page()
        page.goto("/staff")
        sign_in(page)
        expect(page.get_by_role("heading", level=1)).to_have_text("Callback queue")
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Enter")
        for _ in range(10):  # Next call is the first control of the page's content
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "Next call":
                break
        expect(page.get_by_role("button", name="Next call")).to_be_focused()
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Call Keyboard Caller")
