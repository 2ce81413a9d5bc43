"""Abuse of the public intake: hidden characters, mailbox variants, a forged Host, replayed keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.intake.guards import mailbox
from inquiry.intake.writer import request_hash
from inquiry.models import inquiry_table
from tests.conftest import make_settings, valid_inquiry
from tests.intake.conftest import FORM, URL, count, started, valid_form


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class TestInvisibleCharacters:
    @pytest.mark.parametrize("field", ["name", "subject", "form_subject"])
    @pytest.mark.parametrize(
        "hidden",
        ["\u202e", "\u202d", "\u2066", "\u2069", "\u200f", "\u061c", "\u200b", "\u200d", "\ufeff"],
    )
    async def test_direction_overrides_and_zero_width_characters_are_refused(
        self, client: httpx.AsyncClient, engine: AsyncEngine, field: str, hidden: str
    ) -> None:
        response = await client.post(URL, json=valid_inquiry(**{field: f"Marie{hidden}Roy"}))

        assert response.status_code == 422
        [problem] = response.json()["error"]["fields"]
        assert (problem["field"], problem["code"]) == (field, "invisible_characters")
        assert await count(engine, inquiry_table) == 0

    async def test_the_form_shows_the_problem_beside_the_name(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(FORM, data=valid_form(name="Jean\u202eyoR"), params={})
        assert response.status_code == 422
        assert "Please remove invisible or text-direction characters." in response.text

    async def test_accented_names_and_subjects_stay_welcome(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            URL, json=valid_inquiry(name="Zoë Lefèvre-D'Aragon", subject="Rendez-vous à 14 h")
        )
        assert response.status_code == 201


class TestMailboxVariants:
    @pytest.mark.parametrize(
        ("address", "counted_as"),
        [
            ("Sam+clinic@Example.ca", "sam@example.ca"),
            ("sam+a+b@example.ca", "sam@example.ca"),
            ("s.a.m@example.ca", "s.a.m@example.ca"),  # dots matter to most providers
            ("S.a.M+x@gmail.com", "sam@gmail.com"),
            ("sam@googlemail.com", "sam@gmail.com"),
            ("+tag@example.ca", "+tag@example.ca"),
        ],
    )
    def test_variants_of_one_mailbox_are_counted_as_one(
        self, address: str, counted_as: str
    ) -> None:
        assert mailbox(address) == counted_as

    async def test_plus_and_dot_variants_share_the_email_limit(
        self, database_url: str, tmp_path: Path, engine: AsyncEngine
    ) -> None:
        settings = make_settings(
            database_url, tmp_path, rate_limit_enabled=True, rate_limit_per_email="2/hour"
        )
        async for client in started(settings):
            statuses = [
                (await client.post(URL, json=valid_inquiry(email=email))).status_code
                for email in ("sam+1@example.ca", "sam+2@example.ca", "sam+3@example.ca")
            ] + [
                (await client.post(URL, json=valid_inquiry(email=email))).status_code
                for email in ("jo.ann@gmail.com", "joann+x@googlemail.com", "j.o.a.n.n@gmail.com")
            ]
        assert statuses == [201, 201, 429, 201, 201, 429]

    async def test_the_address_given_is_stored_as_it_was_given(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await client.post(URL, json=valid_inquiry(email="Jo.Ann+Clinic@gmail.com"))
        async with engine.connect() as connection:
            stored = (
                await connection.execute(
                    inquiry_table.select().with_only_columns(inquiry_table.c.email)
                )
            ).scalar_one()
        assert stored == "Jo.Ann+Clinic@gmail.com"


class TestOrigin:
    async def test_a_forged_host_does_not_make_a_foreign_origin_our_own(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        forged = {"Origin": "http://evil.example", "Host": "evil.example"}
        api = await client.post(URL, json=valid_inquiry(), headers=forged)
        form = await client.post(FORM, data=valid_form(), headers=forged)
        assert (api.status_code, form.status_code) == (403, 403)
        assert await count(engine, inquiry_table) == 0

    async def test_the_configured_public_address_is_our_origin(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = make_settings(
            database_url, tmp_path, public_base_url="https://Forms.Clinic.example/inquiry"
        )
        async for client in started(settings):
            response = await client.post(
                URL, json=valid_inquiry(), headers={"Origin": "https://forms.clinic.example"}
            )
        assert response.status_code == 201


class TestReplayedKeys:
    async def test_another_client_replaying_a_key_and_body_learns_only_the_reference(
        self, app: FastAPI, engine: AsyncEngine
    ) -> None:
        headers = {"Idempotency-Key": "predictable-key-1"}
        async with client_at(app, "203.0.113.7") as visitor:
            first = await visitor.post(URL, json=valid_inquiry(), headers=headers)
        await asyncio.sleep(0.01)
        async with client_at(app, "198.51.100.66") as other:
            replayed = await other.post(URL, json=valid_inquiry(), headers=headers)

        assert first.status_code == replayed.status_code == 201
        assert replayed.headers["idempotency-replayed"] == "true"
        assert replayed.json()["reference"] == first.json()["reference"]
        # Everything else is its own request's answer: not when the first one was received.
        assert replayed.json()["received_at"] != first.json()["received_at"]
        assert await count(engine, inquiry_table) == 1

    async def test_another_body_under_the_same_key_is_still_refused(
        self, app: FastAPI, engine: AsyncEngine
    ) -> None:
        headers = {"Idempotency-Key": "predictable-key-3"}
        async with client_at(app, "203.0.113.7") as visitor:
            await visitor.post(URL, json=valid_inquiry(), headers=headers)
        async with client_at(app, "198.51.100.66") as other:
            refused = await other.post(URL, json=valid_inquiry(subject="Hi"), headers=headers)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "idempotency_key_reused"

    async def test_the_same_client_gets_the_first_answer_itself(
        self, app: FastAPI, engine: AsyncEngine
    ) -> None:
        headers = {"Idempotency-Key": "predictable-key-2"}
        async with client_at(app, "203.0.113.7") as visitor:
            first = await visitor.post(URL, json=valid_inquiry(), headers=headers)
            await asyncio.sleep(0.01)
            again = await visitor.post(URL, json=valid_inquiry(), headers=headers)
        assert again.json() == first.json()
        assert again.headers["idempotency-replayed"] == "true"

    def test_the_request_hash_keeps_the_body_and_the_client_apart(self) -> None:
        here = request_hash("{}", "203.0.113.7")
        elsewhere = request_hash("{}", "198.51.100.66")
        other_body = request_hash('{"a": 1}', "203.0.113.7")
        assert len(here) == 64
        assert here[:32] == elsewhere[:32]
        assert here[32:] != elsewhere[32:]
        assert here[:32] != other_body[:32]
        assert here[32:] == other_body[32:]
