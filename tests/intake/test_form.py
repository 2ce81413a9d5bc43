"""The hosted HTML form: round trip, errors beside their fields, double clicks, both languages."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.models import inquiry_table
from tests.intake.conftest import FORM, count, field_error, form_token, stored, valid_form


async def fresh_token(client: httpx.AsyncClient, lang: str = "en") -> str:
    return form_token((await client.get(FORM, params={"lang": lang})).text)


class TestHostedForm:
    @pytest.mark.parametrize(
        ("lang", "words"), [("en", "Contact the clinic"), ("fr", "Contactez la clinique")]
    )
    async def test_form_is_served_in_both_languages(
        self, client: httpx.AsyncClient, lang: str, words: str
    ) -> None:
        response = await client.get(FORM, params={"lang": lang})
        assert response.status_code == 200
        assert f'<html lang="{lang}">' in response.text
        assert words in response.text
        assert "9-8-8" in response.text  # crisis help is on the form itself, before sending
        assert response.headers["cache-control"] == "no-store"

    async def test_language_follows_accept_language(self, client: httpx.AsyncClient) -> None:
        response = await client.get(FORM, headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
        assert '<html lang="fr">' in response.text

    async def test_form_may_be_framed_by_allowed_origins_only(
        self, client: httpx.AsyncClient
    ) -> None:
        csp = (await client.get(FORM)).headers["content-security-policy"]
        assert csp == "frame-ancestors 'self' https://www.ketaminetherapyclinic.ca"
        api_csp = (await client.get("/healthz")).headers["content-security-policy"]
        assert api_csp == "frame-ancestors 'none'"

    async def test_valid_post_redirects_to_thanks_with_the_reference(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        token = await fresh_token(client)
        response = await client.post(FORM, data={**valid_form(), "form_token": token})

        assert response.status_code == 303
        thanks = await client.get(response.headers["location"])
        assert thanks.status_code == 200
        reference = re.search(r'id="reference">(INQ-[A-Z0-9]{6})<', thanks.text)
        assert reference
        row = await stored(engine, reference.group(1))
        assert (row["source"], row["name"], row["topic"]) == ("form", "Jean Roy", "appointment")
        assert "Please reach out for help now" not in thanks.text

    async def test_multipart_post_is_accepted(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        fields = {**valid_form(), "form_token": await fresh_token(client)}
        files: Any = {name: (None, value) for name, value in fields.items()}
        response = await client.post(FORM, files=files)
        assert response.status_code == 303
        assert await count(engine, inquiry_table) == 1

    async def test_errors_are_shown_beside_fields_with_input_kept(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        data = valid_form(email="jean@", message="", consent="")
        del data["consent"]
        response = await client.post(FORM, data={**data, "form_token": await fresh_token(client)})

        assert response.status_code == 422
        page = response.text
        assert field_error(page, "email") == "Please enter a valid email address."
        assert field_error(page, "message") == "This field is required."
        assert field_error(page, "consent") == (
            "Please confirm that we may contact you about your inquiry."
        )
        assert field_error(page, "name") is None
        assert 'value="Jean Roy"' in page
        assert 'value="jean@"' in page
        assert 'aria-invalid="true" aria-describedby="contact-hint email-error"' in page
        assert await count(engine, inquiry_table) == 0

    async def test_errors_are_in_french_for_french_visitors(
        self, client: httpx.AsyncClient
    ) -> None:
        data = valid_form(language="fr", phone="123", preferred_contact="phone")
        response = await client.post(FORM, data=data)
        assert response.status_code == 422
        assert field_error(response.text, "phone") == (
            "Veuillez entrer un numéro de téléphone valide, p. ex. 416-555-0123."
        )

    async def test_visitor_input_is_escaped_when_shown_again(
        self, client: httpx.AsyncClient
    ) -> None:
        script = '"><script>alert(1)</script>'
        response = await client.post(FORM, data=valid_form(name=script, email="bad"))
        assert response.status_code == 422
        assert "<script>alert(1)</script>" not in response.text
        assert "&#34;&gt;&lt;script&gt;" in response.text

    async def test_double_click_creates_one_inquiry(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        data = {**valid_form(), "form_token": await fresh_token(client)}
        first, second = await asyncio.gather(
            client.post(FORM, data=data), client.post(FORM, data=data)
        )
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        assert await count(engine, inquiry_table) == 1

    async def test_plain_form_without_token_still_dedupes_a_double_click(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        first = await client.post(FORM, data=valid_form())
        second = await client.post(FORM, data=valid_form())
        assert first.headers["location"] == second.headers["location"]
        assert await count(engine, inquiry_table) == 1

    async def test_edited_resend_with_the_same_token_is_a_new_inquiry(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        token = await fresh_token(client)
        await client.post(FORM, data={**valid_form(), "form_token": token})
        second = await client.post(
            FORM, data={**valid_form(subject="One more thing"), "form_token": token}
        )
        assert second.status_code == 303
        assert await count(engine, inquiry_table) == 2

    async def test_forged_token_is_not_trusted(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        token = await fresh_token(client)
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        response = await client.post(FORM, data={**valid_form(), "form_token": forged})
        assert response.status_code == 303  # accepted, deduplicated by content instead
        assert await count(engine, inquiry_table) == 1

    async def test_cross_site_post_is_refused(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(
            FORM, data=valid_form(), headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        assert await count(engine, inquiry_table) == 0

    @pytest.mark.parametrize(
        "origin", ["http://testserver", "https://www.ketaminetherapyclinic.ca"]
    )
    async def test_same_site_and_allowed_origin_posts_are_accepted(
        self, client: httpx.AsyncClient, origin: str
    ) -> None:
        response = await client.post(FORM, data=valid_form(), headers={"Origin": origin})
        assert response.status_code == 303

    async def test_form_post_as_json_gets_415(self, client: httpx.AsyncClient) -> None:
        response = await client.post(FORM, json=valid_form())
        assert response.status_code == 415


class TestThanksPage:
    async def test_crisis_resources_lead_the_page_in_french(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        data = valid_form(
            language="fr", message="Je n'en peux plus, j'ai des idées noires et je veux mourir."
        )
        response = await client.post(FORM, data=data)
        page = (await client.get(response.headers["location"])).text

        assert '<html lang="fr">' in page
        crisis = page.index("Demandez de l'aide dès maintenant".replace("'", "&#39;"))
        assert crisis < page.index('id="reference"')
        assert 'href="tel:988"' in page
        assert 'href="tel:911"' in page
        async with engine.connect() as connection:
            priority = (await connection.execute(sa.select(inquiry_table.c.priority))).scalar_one()
        assert priority == "urgent"

    async def test_tampered_receipt_shows_no_reference(self, client: httpx.AsyncClient) -> None:
        response = await client.post(FORM, data=valid_form())
        location = response.headers["location"].replace("INQ-", "INQ-Z", 1)
        page = await client.get(location)
        assert page.status_code == 200
        assert 'id="reference"' not in page.text
        assert "888-259-9755" in page.text


class TestFormFailures:
    async def test_a_broken_hidden_source_page_does_not_block_the_visitor(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        page = (await client.get(FORM, params={"source": "https://clinic.ca/contact\tus"})).text
        assert "contact\tus" not in page
        response = await client.post(FORM, data=valid_form(source_page="/contact\x85us"))
        assert response.status_code == 303
        assert await count(engine, inquiry_table) == 1

    async def test_storage_failure_shows_the_form_again_with_what_was_written(
        self, client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from inquiry.errors import StorageUnavailable

        async def unavailable(_: object) -> None:
            raise StorageUnavailable()

        monkeypatch.setattr(app.state.intake._writer, "submit", unavailable)
        response = await client.post(FORM, data=valid_form(message="Please call me back."))
        assert response.status_code == 503
        assert "Please call me back." in response.text
        assert "could not be saved just now" in response.text
        assert "888-259-9755" in response.text
