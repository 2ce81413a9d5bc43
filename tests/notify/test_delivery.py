"""Delivery through a real SMTP server on loopback: content, headers, languages, TLS, injection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trustme
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import EmailDetail, Settings
from inquiry.models import inquiry_table, outbox_table, utcnow
from inquiry.triage import triage
from tests.conftest import valid_inquiry
from tests.notify.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    Sink,
    drain,
    smtp_settings,
    statuses,
    submit,
)


@pytest.fixture
async def worker_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    from inquiry.db import create_engine

    engine = create_engine(settings)
    yield engine
    await engine.dispose()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


class TestDeliveredContent:
    async def test_admin_notification_and_english_acknowledgement(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, admin_email_detail="full")
        [reference] = await submit(settings, valid_inquiry())

        assert await drain(engine, settings) == 2

        [admin] = smtp_sink.by_kind("admin_notification")
        assert admin["Subject"] == f"[NORMAL] New patient — {reference}"
        assert admin["To"] == "admin@ketaminetherapyclinic.ca"
        assert admin["Reply-To"] == "Marie Tremblay <marie@example.ca>"
        assert admin["Message-ID"] == f"<{reference}.admin_notification@ketaminetherapyclinic.ca>"
        assert admin.get_content_type() == "multipart/alternative"
        body = text_of(admin)
        assert "how to start IV ketamine treatment" in body
        assert "+14165550199" in body
        assert "Why triage decided this" in body
        assert f"/staff/inquiries/{reference}" in html_of(admin)

        [ack] = smtp_sink.by_kind("visitor_acknowledgement")
        assert ack["To"] == "marie@example.ca"
        assert ack["Subject"] == f"We received your message ({reference})"
        assert ack["Content-Language"] == "en"
        assert "Your reference is" in text_of(ack)
        assert reference in text_of(ack)
        assert await statuses(engine) == [
            ("admin_notification", "sent", 1),
            ("visitor_acknowledgement", "sent", 1),
        ]

    async def test_french_acknowledgement_is_in_french(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        body = valid_inquiry(
            language="fr",
            preferred_contact="phone",
            callback_window="evening",
            message="Bonjour, j'aimerais prendre rendez-vous pour une évaluation.",
        )
        [reference] = await submit(settings, body)
        await drain(engine, settings)

        [ack] = smtp_sink.by_kind("visitor_acknowledgement")
        assert ack["Subject"] == f"Nous avons bien reçu votre message ({reference})"
        text = text_of(ack)
        assert text.startswith("Bonjour Marie Tremblay,")
        assert "notre équipe vous rappellera le soir" in text
        assert '<html lang="fr">' in html_of(ack)

    async def test_crisis_alerts_on_call_and_leads_the_acknowledgement_with_help(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        body = valid_inquiry(topic="billing", message="I have a plan to kill myself this weekend.")
        [reference] = await submit(settings, body)
        await drain(engine, settings)

        [admin] = smtp_sink.by_kind("admin_notification")
        assert admin["Subject"] == f"[URGENT] Crisis — {reference}"
        [alert] = smtp_sink.by_kind("urgent_alert")
        assert alert["To"] == "oncall@ketaminetherapyclinic.ca"
        assert alert["Subject"] == f"[URGENT] Crisis — {reference} — call back now"
        assert "kill myself" not in text_of(alert)  # no message text outside the service
        [ack] = smtp_sink.by_kind("visitor_acknowledgement")
        assert ack["Subject"].startswith("If you are in danger now, call 911 or 9-8-8")
        assert text_of(ack).startswith("If you are in danger right now, do not wait for our call:")
        assert "9-8-8" in text_of(ack).split("Hello")[0]

    @pytest.mark.parametrize("batch_size", [3, 20], ids=["across-batches", "within-a-batch"])
    async def test_a_crisis_goes_out_ahead_of_a_backlog(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        batch_size: int,
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_batch_size=batch_size)
        backlog = [valid_inquiry(email=f"visitor{n}@example.ca") for n in range(4)]
        await submit(settings, *backlog)  # 8 messages queued first
        crisis = valid_inquiry(message="I have a plan to kill myself this weekend.")
        [reference] = await submit(settings, crisis)  # admin copy, acknowledgement, alert
        await drain(engine, settings)

        sent = smtp_sink.message_ids()
        assert len(sent) == 11
        assert all(reference in message_id for message_id in sent[:3]), sent

    async def test_by_default_no_words_or_contact_details_of_the_visitor_reach_a_mailbox(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        assert settings.admin_email_detail is EmailDetail.SUMMARY
        message = "I have a plan to kill myself this weekend, after my ketamine doses."
        body = valid_inquiry(message=message, subject="My private subject", phone="416-555-0142")
        [reference] = await submit(settings, body)
        await drain(engine, settings)

        [admin] = smtp_sink.by_kind("admin_notification")
        [alert] = smtp_sink.by_kind("urgent_alert")
        assert admin["Reply-To"] is None
        for mail in (admin, alert):
            for part in (str(mail["Subject"]), text_of(mail), html_of(mail)):
                for visitors_own in (
                    "kill myself", "ketamine doses", "My private subject",
                    "marie@example.ca", "+14165550142", "416-555-0142", "Marie Tremblay",
                ):  # fmt: skip
                    assert visitors_own not in part, (mail["Subject"], visitors_own)
            for part in (text_of(mail), html_of(mail)):
                assert reference in part
                assert f"http://testserver/staff/inquiries/{reference}" in part
                assert "crisis" in part
                assert "urgent" in part
                # The triage's reasons, by their categories: the concept and its context.
                assert "\u2014 present" in part

    async def test_spam_is_never_acknowledged(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        await submit(settings, valid_inquiry(website="https://seo.example"))
        assert await drain(engine, settings) == 0
        assert smtp_sink.received == []


class TestSmtpSecurity:
    @pytest.fixture
    def starttls(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_tls_sink: Sink,
        certificate_authority: tuple[trustme.CA, Path],
    ) -> Callable[..., Settings]:
        """Settings for the STARTTLS server; trust its CA unless told otherwise."""
        _, bundle = certificate_authority

        def make(password: str = SMTP_PASSWORD, *, trust: bool = True, **extra: Any) -> Settings:
            return smtp_settings(
                database_url,
                tmp_path,
                smtp_tls_sink,
                smtp_security="starttls",
                smtp_username=SMTP_USER,
                smtp_password=password,
                smtp_ca_file=bundle if trust else None,
                **extra,
            )

        return make

    async def test_starttls_and_login_with_a_test_certificate(
        self, starttls: Callable[..., Settings], smtp_tls_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = starttls()
        await submit(settings, valid_inquiry())
        await drain(engine, settings)
        assert len(smtp_tls_sink.received) == 2

    async def test_wrong_password_is_retried_not_dropped_and_not_repeated(
        self, starttls: Callable[..., Settings], smtp_tls_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = starttls("wrong", outbox_batch_size=2)
        await submit(settings, *(valid_inquiry(email=f"v{n}@example.ca") for n in range(3)))
        await drain(engine, settings)
        assert smtp_tls_sink.received == []
        assert {(status, a) for _, status, a in await statuses(engine)} == {("pending", 1)}
        # Three batches, one connection that logged in: repeating a refused login could get
        # the account locked.
        assert len(set(smtp_tls_sink.logins)) == 1

    async def test_untrusted_certificate_is_refused(
        self, starttls: Callable[..., Settings], smtp_tls_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = starttls(trust=False)
        await submit(settings, valid_inquiry())
        await drain(engine, settings)
        assert smtp_tls_sink.received == []


HOSTILE = {
    "name": 'Eve <script>alert("name")</script> =?utf-8?q?Bcc=3A_x=40evil=2Eexample?=',
    "subject": '<img src=x onerror=alert("subject")>',
    "message": "</div><script>alert('message')</script>\nBcc: victim@evil.example\n\r\n.\r\n",
    "source_page": '/contact"><script>alert("page")</script>',
}


class TestInjection:
    async def test_hostile_fields_add_no_headers_and_are_escaped_in_html(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, admin_email_detail="full")
        await submit(settings, valid_inquiry(**HOSTILE))
        await drain(engine, settings)

        # The on-call alert is a third message when triage flags the text as a crisis.
        urgent = triage(HOSTILE["subject"], HOSTILE["message"]).crisis
        assert len(smtp_sink.received) == 2 + urgent
        for message in smtp_sink.received:
            assert message["Bcc"] is None
            assert message["Cc"] is None
            assert len(message.get_all("To", [])) == 1
            html = html_of(message)
            assert "<script>" not in html
            assert "<img" not in html
        [admin] = smtp_sink.by_kind("admin_notification")
        html = html_of(admin)
        assert "&lt;script&gt;alert(&#39;message&#39;)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=alert(&#34;subject&#34;)&gt;" in html

    async def test_stored_rows_with_crlf_still_cannot_add_headers(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        """Defence in depth: even a row that bypassed intake validation renders safely."""
        settings = smtp_settings(database_url, tmp_path, smtp_sink, admin_email_detail="full")
        await submit(settings, valid_inquiry())
        async with engine.begin() as connection:
            await connection.execute(
                sa.update(inquiry_table).values(name="Mallory\r\nBcc: victim@evil.example")
            )
        await drain(engine, settings)

        for message in smtp_sink.received:
            assert message["Bcc"] is None
        # No valid Reply-To can be made of that name: the admin copy goes out without one.
        assert await statuses(engine) == [
            ("admin_notification", "sent", 1),
            ("visitor_acknowledgement", "sent", 1),
        ]
        [admin] = smtp_sink.by_kind("admin_notification")
        assert admin["Reply-To"] is None
        assert "marie@example.ca" in text_of(admin)


class TestUnreachable:
    @pytest.mark.parametrize(
        ("language", "subject", "words"),
        [
            ("en", "We tried to call you", "could not reach you"),
            ("fr", "Nous avons tenté de vous joindre", "sans réussir à vous joindre"),
        ],
    )
    async def test_unreachable_visitor_is_told_in_their_language(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        language: str,
        subject: str,
        words: str,
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        [reference] = await submit(settings, valid_inquiry(language=language))
        async with engine.begin() as connection:
            inquiry_id = (
                await connection.execute(
                    sa.select(inquiry_table.c.id).where(inquiry_table.c.reference == reference)
                )
            ).scalar_one()
            await connection.execute(sa.delete(outbox_table))
            now = utcnow()
            await connection.execute(
                sa.insert(outbox_table).values(
                    inquiry_id=inquiry_id,
                    kind="visitor_unreachable",
                    recipient="marie@example.ca",
                    status="pending",
                    attempts=0,
                    message_id=f"<{reference}.visitor_unreachable@ketaminetherapyclinic.ca>",
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        await drain(engine, settings)

        [message] = smtp_sink.received
        assert message["Subject"] == f"{subject} ({reference})"
        assert words in text_of(message)
        assert "9-8-8" in text_of(message)
        assert "9-8-8" in html_of(message)
