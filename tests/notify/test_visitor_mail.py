"""Mail to the address a visitor typed: none of their text but a plain name, at most N a day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.app import create_app
from inquiry.config import EmailDetail, Settings
from inquiry.models import OutboxKind
from inquiry.notify.render import MessageRenderer, greeting_name
from inquiry.outbox import counts
from tests.conftest import valid_inquiry
from tests.intake.conftest import URL
from tests.notify.conftest import Sink, drain, inquiry, smtp_settings, statuses

ATTACK = "Your prescription is on hold – pay now at https://pay.example/x"
VISITOR_KINDS = ("visitor_acknowledgement", "visitor_unreachable")
CRISIS = "I can't do this anymore, I want to kill myself."


@pytest.fixture
def renderer() -> MessageRenderer:
    return MessageRenderer(Settings(_env_file=None))


class TestWhatAVisitorEmailSays:
    @pytest.mark.parametrize("kind", VISITOR_KINDS)
    @pytest.mark.parametrize("language", ["en", "fr"])
    @pytest.mark.parametrize(
        "name",
        [
            ATTACK,
            "Your prescription is on hold pay now",  # plain, but a sentence
            "Pay at www.example.ca",
            "<a href='https://x.example'>Ann</a>",
            "A" * 41,
        ],
    )
    def test_a_name_that_is_not_a_plain_name_is_left_out(
        self, renderer: MessageRenderer, kind: str, language: str, name: str
    ) -> None:
        text, html = renderer.bodies(kind, inquiry(1, name=name, language=language))
        hello = "Hello," if language == "en" else "Bonjour,"
        assert text.lstrip().startswith(hello) or f"\n{hello}\n" in text
        assert f"<p>{hello}</p>" in html
        for body in (text, html):
            for fragment in ("prescription", "pay", "Pay", "example", "href", "AAAA"):
                assert fragment not in body

    @pytest.mark.parametrize("kind", VISITOR_KINDS)
    @pytest.mark.parametrize("language", ["en", "fr"])
    @pytest.mark.parametrize("crisis", [False, True])
    def test_visitor_mail_carries_no_link(
        self, renderer: MessageRenderer, kind: str, language: str, crisis: bool
    ) -> None:
        row = inquiry(1, name=ATTACK, language=language, crisis=crisis, subject=ATTACK)
        text, html = renderer.bodies(kind, row)
        for body in (text, html):
            assert "http" not in body
            assert "www." not in body
            assert "<a " not in body

    @pytest.mark.parametrize(
        ("name", "greeted"),
        [
            ("Marie Tremblay", "Marie Tremblay"),
            ("  Zoë   D’Aragon-Côté ", "Zoë D’Aragon-Côté"),
            ("Mary-Ann O'Neil", "Mary-Ann O'Neil"),
            ("J. Smith", ""),
            ("Ann 3rd", ""),
            ("--", ""),
            ("Maria de los Angeles Garcia", ""),  # five words: more than a name needs
        ],
    )
    def test_plain_names_are_greeted_by_name(self, name: str, greeted: str) -> None:
        assert greeting_name(name) == greeted

    def test_staff_still_see_the_name_as_written(self) -> None:
        renderer = MessageRenderer(Settings(_env_file=None, admin_email_detail=EmailDetail.FULL))
        text, _ = renderer.bodies("admin_notification", inquiry(1, name=ATTACK))
        assert ATTACK in text


WHAT_NEXT = {
    ("en", "crisis", "phone"): "a member of our team will call you back as soon as possible.",
    ("en", "crisis", "email"): "a member of our team will reply by email as soon as possible.",
    ("en", "other", "phone"): "our team will call you back, usually within one business day.",
    ("en", "other", "email"): "our team will reply by email, usually within one business day.",
    ("fr", "crisis", "phone"): "un membre de notre équipe vous rappellera dès que possible.",
    ("fr", "crisis", "email"): "un membre de notre équipe vous répondra par courriel dès que",
    ("fr", "other", "phone"): "notre équipe vous rappellera, habituellement",
    ("fr", "other", "email"): "notre équipe vous répondra par courriel, habituellement",
}


class TestTheAcknowledgementPromisesTheTasksChannel:
    @pytest.mark.parametrize("language", ["en", "fr"])
    @pytest.mark.parametrize(
        ("changes", "kind", "channel"),
        [
            ({"topic": "crisis", "crisis": True}, "crisis", "phone"),
            ({"topic": "crisis", "crisis": True, "phone": None}, "crisis", "email"),
            # Clinical questions are called back whatever the visitor preferred.
            ({"topic": "clinical"}, "other", "phone"),
            ({"topic": "clinical", "phone": None}, "other", "email"),
            ({"preferred_contact": "phone"}, "other", "phone"),
            ({}, "other", "email"),
            ({"topic": "general"}, "other", "email"),
        ],
    )
    def test_what_happens_next(
        self,
        renderer: MessageRenderer,
        language: str,
        changes: dict[str, Any],
        kind: str,
        channel: str,
    ) -> None:
        row = inquiry(1, language=language, **changes)
        text, html = renderer.bodies("visitor_acknowledgement", row)
        promise = WHAT_NEXT[(language, kind, channel)]
        assert promise in text
        assert promise.replace("'", "&#39;") in html
        if channel == "email":
            for body in (text, html):
                assert "call you back" not in body
                assert "rappellera" not in body
                assert "our call" not in body
                assert "notre appel" not in body


async def _post(settings: Settings, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [await client.post(URL, json=body) for body in bodies]


class TestAcknowledgementsPerAddress:
    async def test_past_the_daily_cap_only_the_acknowledgement_is_skipped(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(
            database_url,
            tmp_path,
            smtp_sink,
            rate_limit_enabled=True,
            rate_limit_per_ip="100/minute",
            rate_limit_per_email="100/hour",
            ack_max_per_address_per_day=3,
        )
        addresses = ["sam@example.ca", "sam+a@example.ca", "Sam+b@example.ca", "sam+c@example.ca"]
        bodies = [valid_inquiry(email=address, name=ATTACK) for address in addresses]
        bodies.append(valid_inquiry(email="sam+d@example.ca", message=CRISIS))

        responses = await _post(settings, bodies)
        await drain(engine, settings)

        assert [r.status_code for r in responses] == [201] * 5
        crisis = responses[-1].json()
        assert crisis["crisis"] is True
        assert crisis["crisis_resources"]  # the crisis still gets its answer on the page
        assert len(smtp_sink.by_kind(OutboxKind.ADMIN_NOTIFICATION.value)) == 5
        assert len(smtp_sink.by_kind(OutboxKind.URGENT_ALERT.value)) == 1
        assert len(smtp_sink.by_kind(OutboxKind.VISITOR_ACKNOWLEDGEMENT.value)) == 3
        acknowledgements = [
            status
            for kind, status, _ in await statuses(engine)
            if kind == "visitor_acknowledgement"
        ]
        assert acknowledgements == ["sent", "sent", "sent", "skipped", "skipped"]
        assert (await counts(engine))["skipped"] == 2

    async def test_other_addresses_are_acknowledged_as_ever(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(
            database_url,
            tmp_path,
            smtp_sink,
            rate_limit_enabled=True,
            rate_limit_per_ip="100/minute",
            ack_max_per_address_per_day=1,
        )
        bodies = [valid_inquiry(email=f"visitor{n}@example.ca") for n in range(3)]
        await _post(settings, bodies)
        await drain(engine, settings)
        assert len(smtp_sink.by_kind(OutboxKind.VISITOR_ACKNOWLEDGEMENT.value)) == 3
