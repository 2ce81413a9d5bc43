"""The hosted form in a real headless Chromium: no JavaScript needed, embeddable, bilingual."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.conftest import free_port
from tests.web.conftest import DESKTOP, PHONE, accessibility_violations

EMBEDDING_PORT = free_port()
EMBEDDING_ORIGIN = f"http://127.0.0.1:{EMBEDDING_PORT}"

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server_env() -> dict[str, str]:
    return {"INQUIRY_ALLOWED_ORIGINS": EMBEDDING_ORIGIN, "INQUIRY_RATE_LIMIT_ENABLED": "false"}


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """A visitor on a phone with JavaScript turned off."""
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    yield context.new_page()
    context.close()


class TestFormInBrowser:
    def test_errors_then_success_without_javascript(
        self, live_server: str, phone_page: Page
    ) -> None:
        page = phone_page
        page.goto(f"{live_server}/forms/contact?lang=fr")
        page.get_by_label("Votre nom").fill("Élise Gagnon")
        page.get_by_label("Courriel", exact=True).fill("elise@")
        page.get_by_role("button", name="Envoyer").click()

        expect(page.locator("#email-error")).to_have_text(
            "Veuillez entrer une adresse courriel valide."
        )
        expect(page.locator("#message-error")).to_have_text("Ce champ est obligatoire.")
        expect(page.get_by_label("Votre nom")).to_have_value("Élise Gagnon")

        page.get_by_label("Courriel", exact=True).fill("elise@example.ca")
        page.get_by_label("Votre message").fill("Bonjour, combien coûte une série de perfusions?")
        page.get_by_label(
            "J'accepte que la clinique me contacte au sujet de cette demande."
        ).check()
        page.get_by_role("button", name="Envoyer").click()

        expect(page).to_have_url(re.compile(r"/forms/thanks\?receipt="))
        expect(page.locator("h1")).to_have_text("Merci")
        expect(page.locator("#reference")).to_have_text(re.compile(r"^INQ-[A-Z0-9]{6}$"))

    def test_crisis_help_comes_first_on_the_thanks_page(
        self, live_server: str, phone_page: Page
    ) -> None:
        page = phone_page
        page.goto(f"{live_server}/forms/contact?lang=en")
        page.get_by_label("Your name").fill("Sam")
        page.get_by_label("Email", exact=True).fill("sam@example.ca")
        page.get_by_label("Your message").fill(
            "I don't want to be here anymore. I wrote goodbye letters."
        )
        page.get_by_label("I agree that the clinic may contact me about this inquiry.").check()
        page.get_by_role("button", name="Send").click()

        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Please reach out for help now")
        expect(alert.get_by_role("link", name="9-8-8")).to_have_attribute("href", "tel:988")
        help_box = alert.bounding_box()
        reference = page.locator("#reference").bounding_box()
        assert help_box
        assert reference
        assert help_box["y"] < reference["y"]
        assert help_box["y"] < 844  # visible without scrolling on a phone


@pytest.fixture
def embedding_site(tmp_path: Path, live_server: str) -> Iterator[tuple[str, str]]:
    """An allowed page of the clinic's site and a stranger's page, both framing the form."""
    (tmp_path / "site").mkdir()
    frame = f'<iframe id="f" src="{live_server}/forms/contact" width="400" height="900"></iframe>'
    (tmp_path / "site" / "index.html").write_text(f"<!doctype html><title>Site</title>{frame}")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site"))
    servers = [
        http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        for port in (EMBEDDING_PORT, free_port())
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}/index.html" for s in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()


class TestEmbedding:
    def test_form_loads_in_an_iframe_on_an_allowed_origin_only(
        self, browser: Browser, embedding_site: tuple[str, str]
    ) -> None:
        allowed, stranger = embedding_site
        context = browser.new_context()
        page = context.new_page()

        page.goto(allowed)
        framed = page.frame_locator("#f")
        expect(framed.locator("h1")).to_have_text("Contact the clinic")

        page.goto(stranger)
        page.wait_for_timeout(500)
        frame = page.frame(url=re.compile(r"/forms/contact"))
        # Chromium refuses to render a frame that CSP frame-ancestors forbids.
        assert frame is None or frame.locator("h1").count() == 0
        context.close()


@pytest.fixture
def visitor(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A visitor with scripts on (axe-core runs as a script), on a phone or a desktop."""
    viewport: ViewportSize = getattr(request, "param", PHONE)
    context = browser.new_context(viewport=viewport, is_mobile=viewport == PHONE)
    yield context.new_page()
    context.close()


def fill_valid(page: Page, message: str, lang: str = "en") -> None:
    words = {
        "en": ("Your name", "Email", "Your message", "I agree that the clinic may contact me"),
        "fr": ("Votre nom", "Courriel", "Votre message", "J'accepte que la clinique me contacte"),
    }[lang]
    page.get_by_label(words[0]).fill("Alex Martin")
    page.get_by_label(words[1], exact=True).fill("alex@example.ca")
    page.get_by_label(words[2]).fill(message)
    page.get_by_label(re.compile(words[3])).check()


VIEWPORTS = [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")]


class TestVisitorPages:
    @pytest.mark.parametrize("lang", ["en", "fr"])
    def test_an_empty_form_shows_every_error_at_once_and_focuses_the_summary(
        self, live_server: str, phone_page: Page, lang: str
    ) -> None:
        page = phone_page
        page.goto(f"{live_server}/forms/contact?lang={lang}")
        page.get_by_role("button", name="Send" if lang == "en" else "Envoyer").click()

        summary = page.locator("#error-summary")
        expect(summary).to_be_focused()
        links = summary.get_by_role("link")
        expect(links).to_have_count(4)  # name, email or phone, message, consent
        for field in ("name", "email", "message", "consent"):
            expect(page.locator(f"#{field}-error")).to_be_visible()

        links.nth(1).click()
        expect(page.locator("#email")).to_be_focused()

    def test_the_crisis_page_is_calm_and_its_url_says_nothing(
        self, live_server: str, visitor: Page
    ) -> None:
        page = visitor
        page.goto(f"{live_server}/forms/contact?lang=fr")
        fill_valid(page, "chu pu capable, j'ai pris toutes mes pilules à soir", lang="fr")
        page.get_by_role("button", name="Envoyer").click()

        expect(page).to_have_url(re.compile(r"/forms/thanks\?receipt=INQ-[A-Z0-9]{6}\.[^:]*$"))
        assert ":fr" not in page.url
        assert ":1" not in page.url
        expect(page.locator("h1")).to_have_count(1)
        expect(page.locator("h1")).to_have_text("Demandez de l'aide dès maintenant")
        expect(page.locator("body")).not_to_contain_text("jour ouvrable")
        number = page.get_by_role("link", name="9-8-8")
        assert number.evaluate("link => link.getClientRects().length") == 1  # never wrapped

    @pytest.mark.parametrize("visitor", VIEWPORTS, indirect=True)
    @pytest.mark.parametrize("lang", ["en", "fr"])
    def test_every_form_page_and_state_passes_axe(
        self, live_server: str, visitor: Page, lang: str
    ) -> None:
        page = visitor
        send = "Send" if lang == "en" else "Envoyer"
        seen: dict[str, list[str]] = {}
        page.goto(f"{live_server}/forms/contact?lang={lang}")
        seen["form"] = accessibility_violations(page)
        page.get_by_role("button", name=send).click()
        seen["errors"] = accessibility_violations(page)
        fill_valid(page, "How much does a series of infusions cost?", lang)
        page.get_by_role("button", name=send).click()
        expect(page.locator("#reference")).to_be_visible()
        seen["thanks"] = accessibility_violations(page)
        page.goto(f"{live_server}/forms/contact?lang={lang}")
        fill_valid(page, "I don't want to be alive anymore, I have the pills ready.", lang)
        page.get_by_role("button", name=send).click()
        expect(page.locator("#reference")).to_be_visible()
        seen["crisis"] = accessibility_violations(page)

        assert seen == {"form": [], "errors": [], "thanks": [], "crisis": []}
