"""The hosted form for a visitor: every error at once, an opaque receipt, a calm crisis page,
and the field names of hosted form backends (Formspree and the like)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import Settings
from inquiry.models import OutboxKind, inquiry_table
from inquiry.notify.render import MessageRenderer
from tests.conftest import valid_inquiry

FORM = "/forms/contact"
SITE = "https://www.ketaminetherapyclinic.ca"  # the allowed origin of the test settings
CRISIS_FR = "Je n'en peux plus, j'ai des idées noires et je veux mourir ce soir."


def form(**changes: str | None) -> dict[str, str]:
    """A valid form post, as a browser sends it (ticked boxes as "true")."""
    values = {k: str(v).lower() if isinstance(v, bool) else v for k, v in valid_inquiry().items()}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def summary_links(page: str) -> list[tuple[str, str]]:
    summary = re.search(r'<div class="summary".*?</div>', page, re.S)
    assert summary, "an error summary leads the page"
    return re.findall(r'<a href="#([^"]+)">([^<]*)</a>', summary.group())


def error_under(page: str, field: str) -> str | None:
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    return match.group(1) if match else None


async def stored(engine: AsyncEngine, *columns: sa.ColumnElement[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        result = await connection.execute(sa.select(*columns).order_by(inquiry_table.c.id))
        return [tuple(row) for row in result]


class TestEveryErrorAtOnce:
    async def test_an_empty_form_lists_every_problem_with_links_in_page_order(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(FORM, data={"language": "en"})

        assert response.status_code == 422
        links = summary_links(response.text)
        assert [anchor for anchor, _ in links] == ["name", "email", "message", "consent"]
        assert links[1][1] == "Email: Please give an email address or a phone number."
        assert error_under(response.text, "name") == "This field is required."
        assert error_under(response.text, "email") == (
            "Please give an email address or a phone number."
        )
        assert 'tabindex="-1" autofocus' in response.text
        assert await stored(engine, inquiry_table.c.id) == []

    async def test_a_call_back_without_a_phone_is_reported_under_phone(
        self, client: httpx.AsyncClient
    ) -> None:
        data = form(email="", phone="", preferred_contact="phone", name="")
        response = await client.post(FORM, data=data)

        assert error_under(response.text, "phone") == (
            "Please give a phone number so we can call you back."
        )
        assert error_under(response.text, "email") is None
        assert [anchor for anchor, _ in summary_links(response.text)] == ["name", "phone"]

    async def test_french_summary_uses_french_typography(self, client: httpx.AsyncClient) -> None:
        response = await client.post(FORM, data=form(language="fr", name=""))
        assert summary_links(response.text) == [
            ("name", "Votre nom\u202f: Ce champ est obligatoire.")
        ]

    async def test_the_api_reports_the_contact_rule_beside_field_errors(
        self, client: httpx.AsyncClient
    ) -> None:
        body = valid_inquiry(name="", email=None, phone=None)
        response = await client.post("/api/v1/inquiries", json=body)

        assert response.status_code == 422
        fields = {f["field"]: f["code"] for f in response.json()["error"]["fields"]}
        assert fields == {"name": "required", "email": "contact_required"}

    async def test_required_fields_and_the_contact_rule_are_said_before_sending(
        self, client: httpx.AsyncClient
    ) -> None:
        page = (await client.get(FORM, params={"lang": "en"})).text
        assert page.count('<span class="req">(required)</span>') == 3  # name, message, consent
        assert "we need at least one to reply" in page
        assert re.search(r'id="email"[^>]*aria-describedby="contact-hint"', page)
        assert re.search(r'id="message"[^>]*aria-describedby="message-hint"', page)


class TestPrivacyAndClinic:
    async def test_the_consent_box_leads_to_the_privacy_notice(
        self, client: httpx.AsyncClient
    ) -> None:
        page = (await client.get(FORM, params={"lang": "fr"})).text
        assert re.search(r'id="consent"[^>]*aria-describedby="privacy-summary"', page)
        notice = re.search(r'<p id="privacy-notice">([^<]*)</p>', page)
        assert notice
        assert "888-259-9755" in notice.group(1)
        assert "admin@ketaminetherapyclinic.ca" in notice.group(1)
        assert "LPRPS" in notice.group(1)

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={
                "clinic_name": "Clinique <Kétamine>",
                "clinic_logo_url": "/static/logo.png",
                "form_colours": {"accent": "#004488"},
            }
        )

    async def test_hosted_pages_carry_the_clinic_name_logo_and_colours(
        self, client: httpx.AsyncClient
    ) -> None:
        page = (await client.get(FORM)).text
        assert "<span>Clinique &lt;Kétamine&gt;</span>" in page
        assert '<img src="/static/logo.png" alt="">' in page
        assert "--accent:#004488;" in page

    def test_colours_and_logo_are_checked_at_start_up(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="is not a colour"):
            Settings(_env_file=None, form_colours={"accent": "red;}body{display:none"})
        with pytest.raises(ValueError, match="INQUIRY_CLINIC_LOGO_URL"):
            Settings(_env_file=None, clinic_logo_url="https://elsewhere.example/logo.png")
        allowed = Settings(
            _env_file=None,
            allowed_origins=[SITE],
            clinic_logo_url=f"{SITE}/logo.png",
        )
        assert allowed.clinic_logo_url == f"{SITE}/logo.png"


class TestReceipt:
    async def test_the_thank_you_url_shows_only_the_reference(
        self, client: httpx.AsyncClient
    ) -> None:
        crisis = await client.post(FORM, data=form(language="fr", message=CRISIS_FR))
        ordinary = await client.post(FORM, data=form(language="en"))

        shapes = set()
        for response in (crisis, ordinary):
            receipt = response.headers["location"].split("receipt=", 1)[1]
            assert re.fullmatch(r"INQ-[A-Z0-9]{6}\.[0-9a-f]+\.[A-Za-z0-9_-]+", receipt)
            shapes.add(re.sub(r"[A-Za-z0-9_-]", "x", receipt.split(".", 1)[1]))
        # Nothing in the crisis visitor's receipt tells it apart from anyone else's.
        assert len(shapes) == 1

        page = (await client.get(crisis.headers["location"])).text
        assert '<html lang="fr">' in page
        assert "Demandez de l&#39;aide dès maintenant" in page
        plain = (await client.get(ordinary.headers["location"])).text
        assert "Please reach out for help now" not in plain

    async def test_a_receipt_moved_to_another_reference_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        crisis = await client.post(FORM, data=form(message=CRISIS_FR, language="fr"))
        forged = re.sub(r"INQ-[A-Z0-9]{6}", "INQ-AAAAAA", crisis.headers["location"])
        page = (await client.get(forged)).text
        assert 'id="reference"' not in page
        assert "INQ-AAAAAA" not in page


class TestCrisisPage:
    async def test_one_heading_resources_first_and_no_business_day(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(FORM, data=form(message="I want to end my life tonight."))
        page = (await client.get(response.headers["location"])).text

        assert page.count("<h1") == 1
        assert page.index("Please reach out for help now") < page.index('id="reference"')
        assert "business day" not in page
        assert "as soon as possible" in page
        assert '<a class="nowrap" href="tel:988">9-8-8</a>' in page

    async def test_french_puts_a_narrow_space_before_the_colon(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(FORM, data=form(message=CRISIS_FR, language="fr"))
        page = (await client.get(response.headers["location"])).text
        assert "<strong>Urgence\u202f: <a" in page
        assert "jour ouvrable" not in page


class TestFormBackendFields:
    async def test_next_on_an_allowed_origin_is_where_the_visitor_goes(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(FORM, data=form(_next=f"{SITE}/merci"))
        assert response.status_code == 303
        assert response.headers["location"] == f"{SITE}/merci"

    @pytest.mark.parametrize(
        "target",
        [
            "https://evil.example/phish",
            f"{SITE}@evil.example/x",
            "//evil.example/x",
            "javascript:alert(1)",
            f"{SITE}/x\r\nSet-Cookie: a=b",
        ],
    )
    async def test_next_anywhere_else_falls_back_to_the_thank_you_page(
        self, client: httpx.AsyncClient, target: str
    ) -> None:
        response = await client.post(FORM, data=form(_next=target))
        assert response.status_code == 303
        assert response.headers["location"].startswith("/forms/thanks?receipt=")

    async def test_a_crisis_always_gets_the_crisis_page(self, client: httpx.AsyncClient) -> None:
        data = form(_next=f"{SITE}/merci", message="I took all my pills, I want to die.")
        response = await client.post(FORM, data=data)
        assert response.headers["location"].startswith("/forms/thanks?receipt=")
        page = (await client.get(response.headers["location"])).text
        assert "Please reach out for help now" in page

    async def test_subject_ends_the_admin_email_subject(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
    ) -> None:
        await client.post(FORM, data=form(_subject="Referral page form"))
        [(reference, label)] = await stored(
            engine, inquiry_table.c.reference, inquiry_table.c.form_subject
        )
        assert label == "Referral page form"
        row = {"reference": reference, "topic": "appointment", "priority": "normal"}
        subject = MessageRenderer(settings).subject(
            OutboxKind.ADMIN_NOTIFICATION, {**row, "form_subject": label}, "en"
        )
        assert subject == f"[NORMAL] Appointment — {reference} — Referral page form"

    async def test_a_subject_with_a_line_break_is_ignored_not_refused(
        self, client: httpx.AsyncClient, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="inquiry.web.forms"):
            response = await client.post(FORM, data=form(_subject="Hi\r\nBcc: x@evil.example"))
        assert response.status_code == 303
        assert await stored(engine, inquiry_table.c.form_subject) == [(None,)]
        assert "_subject ignored" in caplog.text
        assert "evil" not in caplog.text

    async def test_replyto_gotcha_and_language_are_aliases(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await client.post(
            FORM, data=form(email="", language=None, _replyto="alias@example.ca", _language="fr")
        )
        await client.post(FORM, data=form(email="plain@example.ca", _replyto="other@example.ca"))
        await client.post(FORM, data=form(_gotcha="http://spam.example", message="Cheap SEO!"))

        rows = await stored(
            engine,
            inquiry_table.c.email,
            inquiry_table.c.language,
            inquiry_table.c.status,
            inquiry_table.c.close_reason,
        )
        assert rows[0][:2] == ("alias@example.ca", "fr")
        assert rows[1][0] == "plain@example.ca"  # the plain field wins
        assert rows[2][2:] == ("closed", "spam")  # quarantined

    async def test_unknown_underscore_fields_are_ignored(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(FORM, data=form(_cc="boss@example.ca", _template="table"))
        assert response.status_code == 303
        [(subject,)] = await stored(engine, inquiry_table.c.form_subject)
        assert subject is None
