"""The JSON intake API: field rules, guards, idempotency, CORS and what gets stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.app import create_app
from inquiry.models import idempotency_table, inquiry_table, outbox_table
from tests.conftest import make_settings, valid_inquiry
from tests.intake.conftest import URL, count, stored


async def outbox_for(engine: AsyncEngine, inquiry_id: int) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(outbox_table)
            .where(outbox_table.c.inquiry_id == inquiry_id)
            .order_by(outbox_table.c.id)
        )
        return [dict(row._mapping) for row in rows]


def error_fields(response: httpx.Response) -> dict[str, str]:
    return {field["field"]: field["code"] for field in response.json()["error"]["fields"]}


class TestCreateInquiry:
    async def test_accepted_inquiry_is_stored_with_its_triage_and_owed_messages(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(URL, json=valid_inquiry())

        assert response.status_code == 201
        body = response.json()
        assert body["reference"].startswith("INQ-")
        assert len(body["reference"]) == 10
        assert body["language"] == "en"
        assert body["crisis"] is False
        assert body["crisis_resources"] == []
        row = await stored(engine, body["reference"])
        assert row["phone"] == "+14165550199"
        assert row["email"] == "marie@example.ca"
        assert row["status"] == "new"
        assert row["source"] == "api"
        assert row["topic"] == "new_patient"
        assert row["priority"] == "normal"
        assert json.loads(row["triage_reasons"])
        kinds = {
            (m["kind"], m["recipient"], m["status"]) for m in await outbox_for(engine, row["id"])
        }
        assert kinds == {
            ("admin_notification", "admin@ketaminetherapyclinic.ca", "pending"),
            ("visitor_acknowledgement", "marie@example.ca", "pending"),
        }

    async def test_outbox_messages_have_stable_distinct_message_ids(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        reference = (await client.post(URL, json=valid_inquiry())).json()["reference"]
        row = await stored(engine, reference)
        ids = [m["message_id"] for m in await outbox_for(engine, row["id"])]
        assert len(set(ids)) == 2
        assert all(
            i.startswith(f"<{reference}.") and i.endswith("@ketaminetherapyclinic.ca>") for i in ids
        )

    async def test_concurrent_inquiries_each_own_their_messages(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        """Folded into shared transactions, every row still points at its own inquiry."""
        emails = [f"visitor{n}@example.ca" for n in range(40)]
        responses = await asyncio.gather(
            *(client.post(URL, json=valid_inquiry(email=email)) for email in emails)
        )
        assert {r.status_code for r in responses} == {201}
        for response, email in zip(responses, emails, strict=True):
            row = await stored(engine, response.json()["reference"])
            assert row["email"] == email
            acknowledgement = [
                m
                for m in await outbox_for(engine, row["id"])
                if m["kind"] == "visitor_acknowledgement"
            ]
            assert [m["recipient"] for m in acknowledgement] == [email]
            assert acknowledgement[0]["message_id"].startswith(f"<{row['reference']}.")

    async def test_phone_only_inquiry_owes_no_visitor_email(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        body = valid_inquiry(email=None, preferred_contact="phone")
        response = await client.post(URL, json=body)
        assert response.status_code == 201
        row = await stored(engine, response.json()["reference"])
        assert [m["kind"] for m in await outbox_for(engine, row["id"])] == ["admin_notification"]

    async def test_crisis_message_is_urgent_even_when_topic_is_billing(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        body = valid_inquiry(
            topic="billing", message="I can't go on, I am thinking of ending my life tonight."
        )
        response = await client.post(URL, json=body)
        assert response.status_code == 201
        answer = response.json()
        assert answer["crisis"] is True
        assert {r["contact"] for r in answer["crisis_resources"]} == {"911", "9-8-8"}
        row = await stored(engine, answer["reference"])
        assert (row["topic"], row["priority"], row["crisis"]) == ("crisis", "urgent", True)

    async def test_french_inquiry_is_answered_in_french(self, client: httpx.AsyncClient) -> None:
        body = valid_inquiry(
            language=None,
            message="Bonjour, je voudrais savoir si le traitement est couvert par l'OHIP.",
        )
        answer = (await client.post(URL, json=body)).json()
        assert answer["language"] == "fr"
        assert answer["message"].startswith("Merci")

    async def test_french_crisis_gets_french_resources(self, client: httpx.AsyncClient) -> None:
        body = valid_inquiry(language="fr", message="J'ai des idées noires, je veux mourir.")
        answer = (await client.post(URL, json=body)).json()
        assert answer["crisis"] is True
        assert any("Appelez ou textez le 9-8-8" in r["detail"] for r in answer["crisis_resources"])

    async def test_honeypot_is_answered_like_success_but_quarantined(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(URL, json=valid_inquiry(website="http://spam.example"))
        assert response.status_code == 201
        row = await stored(engine, response.json()["reference"])
        assert (row["status"], row["close_reason"], row["quarantine_reason"]) == (
            "closed",
            "spam",
            "honeypot",
        )
        assert await outbox_for(engine, row["id"]) == []

    async def test_crisis_text_in_a_filled_honeypot_is_still_answered(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        body = valid_inquiry(website="x", message="I want to kill myself, please call me.")
        response = await client.post(URL, json=body)
        row = await stored(engine, response.json()["reference"])
        assert row["status"] == "new"
        assert row["crisis"] is True
        assert len(await outbox_for(engine, row["id"])) == 2


INVALID_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"name": ""}, "name", "required"),
    ({"name": "x" * 121}, "name", "too_long"),
    ({"name": "Ann\r\nBcc: victim@example.com"}, "name", "control_characters"),
    ({"name": "Ann\x00"}, "name", "control_characters"),
    ({"email": "not-an-email"}, "email", "invalid_email"),
    ({"email": "a@b.ca\nBcc: x@y.ca"}, "email", "invalid_email"),
    ({"email": "a" * 250 + "@b.ca"}, "email", "too_long"),
    ({"phone": "12"}, "phone", "invalid_phone"),
    ({"phone": "+1 416 555 019"}, "phone", "invalid_phone"),
    ({"phone": "416555\r\n0199"}, "phone", "invalid_phone"),
    ({"email": None, "phone": None}, "email", "contact_required"),
    ({"phone": None, "preferred_contact": "phone"}, "phone", "phone_required"),
    ({"email": None, "preferred_contact": "email"}, "email", "email_required"),
    ({"preferred_contact": "fax"}, "preferred_contact", "invalid_choice"),
    ({"callback_window": "midnight"}, "callback_window", "invalid_choice"),
    ({"voicemail_ok": "perhaps"}, "voicemail_ok", "invalid_boolean"),
    ({"topic": "crisis"}, "topic", "invalid_choice"),
    ({"subject": "s" * 201}, "subject", "too_long"),
    ({"subject": "Hi\nthere"}, "subject", "control_characters"),
    ({"message": ""}, "message", "required"),
    ({"message": "   "}, "message", "required"),
    ({"message": "m" * 5001}, "message", "too_long"),
    ({"message": "hello\x07"}, "message", "control_characters"),
    ({"language": "de"}, "language", "invalid_choice"),
    ({"consent": False}, "consent", "consent_required"),
    ({"consent": None}, "consent", "invalid_boolean"),
    ({"website": "w" * 501}, "website", "too_long"),
    ({"source_page": "/a\nb"}, "source_page", "control_characters"),
    ({"is_admin": True}, "is_admin", "unknown_field"),
]


class TestFieldRules:
    @pytest.mark.parametrize(("change", "field", "code"), INVALID_FIELDS)
    async def test_invalid_field_is_refused_with_its_code_and_nothing_is_stored(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        change: dict[str, Any],
        field: str,
        code: str,
    ) -> None:
        response = await client.post(URL, json=valid_inquiry(**change))

        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"
        assert error_fields(response)[field] == code
        assert await count(engine, inquiry_table) == 0
        assert await count(engine, outbox_table) == 0

    async def test_missing_required_fields_are_each_named(self, client: httpx.AsyncClient) -> None:
        response = await client.post(URL, json={})
        assert response.status_code == 422
        fields = error_fields(response)
        assert fields["name"] == fields["message"] == fields["consent"] == "required"

    async def test_multiline_message_keeps_its_lines(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(URL, json=valid_inquiry(message="Line one\r\nLine two\tend"))
        row = await stored(engine, response.json()["reference"])
        assert row["message"] == "Line one\nLine two\tend"

    async def test_phone_numbers_are_stored_in_e164(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        for written, e164 in [
            ("613.555.0142", "+16135550142"),
            ("+33 1 42 68 53 00", "+33142685300"),
        ]:
            response = await client.post(URL, json=valid_inquiry(phone=written))
            assert (await stored(engine, response.json()["reference"]))["phone"] == e164

    async def test_body_that_is_not_json_gets_invalid_json(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            URL, content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_json"

    @pytest.mark.parametrize("body", [["name", "message"], "text", 42, True])
    async def test_json_that_is_not_an_object_is_refused(
        self, client: httpx.AsyncClient, body: object
    ) -> None:
        response = await client.post(URL, json=body)
        assert response.status_code == 422
        assert error_fields(response) == {"": "invalid_type"}

    @pytest.mark.parametrize(
        "nesting", ["[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000]
    )
    async def test_deeply_nested_json_is_invalid_json_not_a_crash(
        self, client: httpx.AsyncClient, engine: AsyncEngine, nesting: str
    ) -> None:
        response = await client.post(
            URL, content=nesting.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_json"
        assert await count(engine, inquiry_table) == 0

    @pytest.mark.parametrize("body", [b"\xff\xfe{}", b"\x80abc"])
    async def test_body_that_is_not_utf8_gets_invalid_json(
        self, client: httpx.AsyncClient, engine: AsyncEngine, body: bytes
    ) -> None:
        response = await client.post(
            URL, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_json"
        assert await count(engine, inquiry_table) == 0

    @pytest.mark.parametrize("body", [b"", b"null"])
    async def test_empty_body_is_a_missing_inquiry(
        self, client: httpx.AsyncClient, body: bytes
    ) -> None:
        response = await client.post(
            URL, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"


class TestDocumentation:
    async def test_openapi_documents_the_body_and_the_idempotency_key(
        self, client: httpx.AsyncClient
    ) -> None:
        document = (await client.get("/openapi.json")).json()
        operation = document["paths"][URL]["post"]
        body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body_schema == {"$ref": "#/components/schemas/InquiryIn"}
        fields = document["components"]["schemas"]["InquiryIn"]["properties"]
        assert {"name", "email", "phone", "message", "consent", "website"} <= fields.keys()
        assert document["components"]["schemas"]["InquiryIn"]["additionalProperties"] is False
        assert "VisitorTopic" in document["components"]["schemas"]
        [key] = operation["parameters"]
        assert (key["name"], key["in"], key["schema"]["maxLength"]) == (
            "Idempotency-Key",
            "header",
            196,
        )
        assert set(operation["responses"]) >= {"201", "403", "413", "415", "422", "429", "503"}


class TestRequestGuards:
    async def test_oversized_body_gets_413(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(URL, json=valid_inquiry(message="x" * 40_000))
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        assert await count(engine, inquiry_table) == 0

    async def test_oversized_chunked_body_gets_413(self, client: httpx.AsyncClient) -> None:
        async def chunks() -> Any:
            for _ in range(40):
                yield b" " * 1024

        response = await client.post(
            URL, content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", ""]
    )
    async def test_wrong_content_type_gets_415(
        self, client: httpx.AsyncClient, content_type: str
    ) -> None:
        response = await client.post(
            URL, content=json.dumps(valid_inquiry()), headers={"content-type": content_type}
        )
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "unsupported_media_type"

    async def test_json_with_charset_is_accepted(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            URL,
            content=json.dumps(valid_inquiry()),
            headers={"content-type": "application/json; charset=utf-8"},
        )
        assert response.status_code == 201

    async def test_unknown_route_uses_the_error_shape(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/nothing")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    async def test_wrong_method_uses_the_error_shape(self, client: httpx.AsyncClient) -> None:
        response = await client.get(URL)
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"


class TestIdempotency:
    async def test_repeat_replays_the_first_answer_and_stores_once(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        headers = {"Idempotency-Key": "7b0c1f2e-retry-1"}
        first = await client.post(URL, json=valid_inquiry(), headers=headers)
        again = await client.post(URL, json=valid_inquiry(), headers=headers)

        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotency-replayed"] == "true"
        assert await count(engine, inquiry_table) == 1
        assert await count(engine, outbox_table) == 2

    async def test_same_key_with_another_body_is_refused(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        headers = {"Idempotency-Key": "7b0c1f2e-retry-2"}
        await client.post(URL, json=valid_inquiry(), headers=headers)
        response = await client.post(URL, json=valid_inquiry(subject="Other"), headers=headers)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert await count(engine, inquiry_table) == 1

    async def test_concurrent_duplicates_store_one_inquiry(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        headers = {"Idempotency-Key": "7b0c1f2e-concurrent"}
        responses = await asyncio.gather(
            *(client.post(URL, json=valid_inquiry(), headers=headers) for _ in range(20))
        )
        assert {r.status_code for r in responses} == {201}
        assert len({r.json()["reference"] for r in responses}) == 1
        assert sum(r.headers.get("idempotency-replayed") == "true" for r in responses) == 19
        assert await count(engine, inquiry_table) == 1
        assert await count(engine, idempotency_table) == 1

    async def test_different_keys_store_different_inquiries(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        for key in ("key-aaaaaaaa", "key-bbbbbbbb"):
            await client.post(URL, json=valid_inquiry(), headers={"Idempotency-Key": key})
        assert await count(engine, inquiry_table) == 2

    async def test_longest_key_fits_its_column(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        headers = {"Idempotency-Key": "k" * 196}
        first = await client.post(URL, json=valid_inquiry(), headers=headers)
        again = await client.post(URL, json=valid_inquiry(), headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.headers["idempotency-replayed"] == "true"
        assert await count(engine, inquiry_table) == 1

    @pytest.mark.parametrize("key", ["short", "has space in it", "x" * 197])
    async def test_malformed_key_is_refused(self, client: httpx.AsyncClient, key: str) -> None:
        response = await client.post(URL, json=valid_inquiry(), headers={"Idempotency-Key": key})
        assert response.status_code == 422
        assert "header.idempotency-key" in error_fields(response)

    async def test_a_malformed_key_and_broken_fields_are_reported_together(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(
            URL, json=valid_inquiry(consent=False), headers={"Idempotency-Key": "short"}
        )
        assert response.status_code == 422
        assert error_fields(response).keys() >= {"header.idempotency-key", "consent"}
        assert await count(engine, inquiry_table) == 0


class TestCors:
    async def test_preflight_from_the_clinic_site_is_allowed(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.options(
            URL,
            headers={
                "Origin": "https://www.ketaminetherapyclinic.ca",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,idempotency-key",
            },
        )
        assert response.status_code == 200
        assert (
            response.headers["access-control-allow-origin"]
            == "https://www.ketaminetherapyclinic.ca"
        )

    async def test_preflight_from_another_site_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.options(
            URL,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers

    async def test_post_from_allowed_origin_carries_cors_headers(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            URL, json=valid_inquiry(), headers={"Origin": "https://www.ketaminetherapyclinic.ca"}
        )
        assert response.status_code == 201
        assert (
            response.headers["access-control-allow-origin"]
            == "https://www.ketaminetherapyclinic.ca"
        )
        exposed = response.headers["access-control-expose-headers"].lower().split(", ")
        assert {"retry-after", "idempotency-replayed", "x-request-id"} <= set(exposed)
        assert response.headers["x-request-id"]

    async def test_post_from_another_origin_is_refused_and_stores_nothing(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        response = await client.post(
            URL, json=valid_inquiry(), headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "origin_not_allowed"
        assert await count(engine, inquiry_table) == 0


class TestClientGone:
    async def test_a_body_cut_short_by_a_disconnect_is_not_processed(
        self, app: Any, engine: AsyncEngine
    ) -> None:
        body = json.dumps(valid_inquiry()).encode()
        parts: list[dict[str, Any]] = [
            {"type": "http.request", "body": body[:40], "more_body": True},
            {"type": "http.disconnect"},
        ]
        messages = iter(parts)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": URL,
            "raw_path": URL.encode(),
            "query_string": b"",
            "root_path": "",
            "client": ("203.0.113.7", 1),
            "server": None,
            "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
        }
        await app(scope, receive, send)

        assert sent == []
        assert await count(engine, inquiry_table) == 0


class TestMailOrder:
    @pytest.mark.parametrize(
        ("message", "urgent"),
        [
            (
                "I have a plan to kill myself this weekend.",
                {"admin_notification", "visitor_acknowledgement", "urgent_alert", "urgent_webhook"},
            ),
            (
                "Since yesterday's infusion I've had severe nausea and vomiting.",
                {"urgent_alert", "urgent_webhook"},
            ),
        ],
        ids=["crisis", "clinical"],
    )
    async def test_alerts_and_all_mail_of_a_crisis_go_ahead_of_a_backlog(
        self,
        database_url: str,
        tmp_path: Path,
        engine: AsyncEngine,
        message: str,
        urgent: set[str],
    ) -> None:
        settings = make_settings(
            database_url,
            tmp_path,
            alert_on_clinical=True,
            oncall_emails=["oncall@ketaminetherapyclinic.ca"],
            alert_webhook_url="https://hooks.example.ca/alerts",
            alert_webhook_secret="s3cret-for-tests",
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                response = await client.post(URL, json=valid_inquiry(message=message))
        assert response.status_code == 201, response.text
        row = await stored(engine, response.json()["reference"])
        owed = {m["kind"]: bool(m["urgent"]) for m in await outbox_for(engine, row["id"])}
        assert len(owed) == 4
        assert {kind for kind, first in owed.items() if first} == urgent
