"""What the mail tests share: an SMTP server, inquiries to send, a clock, the outbox drained.

The server is a real one on loopback (aiosmtpd) that records what it accepts and can misbehave.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.app import create_app
from inquiry.config import Settings
from inquiry.models import outbox_table, utcnow
from inquiry.notify.worker import OutboxWorker
from tests.conftest import free_port, make_settings

SMTP_USER = "inquiry"
SMTP_PASSWORD = "correct horse battery staple"  # noqa: S105 - test server only


@dataclass
class Sink:
    """What the server accepted, and the answers it should give next."""

    port: int
    received: list[EmailMessage] = field(default_factory=list)
    # Each DATA takes the next scripted answer; "250" (accept) when the script is empty.
    script: list[str] = field(default_factory=list)
    delay: float = 0.0
    # The client's address and port for each accepted message: one per SMTP connection.
    peers: list[tuple[str, int]] = field(default_factory=list)
    # The client's address and port for each login attempt, accepted or refused (a client
    # may try several mechanisms on one connection).
    logins: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(message["Message-ID"]) for message in self.received]

    def by_kind(self, kind: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.received if f".{kind}" in str(m["Message-ID"])]


class RecordingHandler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        with self.sink.lock:
            answer = self.sink.script.pop(0) if self.sink.script else "250 OK"
            if answer.startswith("250"):
                parsed = message_from_bytes(envelope.content, policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                self.sink.received.append(parsed)
                self.sink.peers.append(tuple(session.peer))
        return answer


def _authenticator(sink: Sink) -> Callable[..., AuthResult]:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        sink.logins.append(tuple(session.peer))
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == SMTP_USER
            and data.password.decode() == SMTP_PASSWORD
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


@pytest.fixture(scope="session")
def certificate_authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return ca, bundle


def _start(sink: Sink, **options: Any) -> Controller:
    controller = Controller(RecordingHandler(sink), hostname="127.0.0.1", port=sink.port, **options)
    controller.start()
    return controller


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    """A plain SMTP server on loopback."""
    sink = Sink(port=free_port())
    controller = _start(sink)
    yield sink
    controller.stop()


@pytest.fixture
def smtp_tls_sink(certificate_authority: tuple[trustme.CA, Path]) -> Iterator[Sink]:
    """An SMTP server that requires STARTTLS and a login, with a certificate from a test CA."""
    ca, _ = certificate_authority
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    sink = Sink(port=free_port())
    controller = _start(
        sink,
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator(sink),
        auth_required=True,
        auth_require_tls=True,
    )
    yield sink
    controller.stop()


URL = "/api/v1/inquiries"


class Clock:
    """A clock the test moves by hand: leases and retries without sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def smtp_settings(database_url: str, tmp_path: Path, sink: Sink, **overrides: Any) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        oncall_emails=["oncall@ketaminetherapyclinic.ca"],
        **overrides,
    )


async def submit(settings: Settings, *bodies: dict[str, Any]) -> list[str]:
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            responses = [await client.post(URL, json=body) for body in bodies]
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    return [r.json()["reference"] for r in responses]


async def drain(engine: AsyncEngine, settings: Settings, clock: Clock | None = None) -> int:
    return await OutboxWorker(engine, settings, clock=clock or Clock()).drain()


async def statuses(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(outbox_table.c.kind, outbox_table.c.status, outbox_table.c.attempts).order_by(
                outbox_table.c.id
            )
        )
        return [tuple(row) for row in rows]


def inquiry(number: int, **changes: Any) -> dict[str, Any]:
    """An inquiry row as the worker reads it, numbered, with any field changed."""
    return {
        "id": number,
        "reference": f"INQ-TEST{number:02d}",
        "name": "Ann Example",
        "email": f"ann{number}@example.ca",
        "phone": "+14165550199",
        "preferred_contact": "email",
        "callback_window": "any",
        "voicemail_ok": False,
        "visitor_topic": "new_patient",
        "subject": "Question",
        "message": "Hello, how does the first assessment work?",
        "language": "en",
        "topic": "new_patient",
        "priority": "normal",
        "crisis": False,
        "triage_reasons": "[]",
        "created_at": datetime(2026, 11, 28, 15, 0, tzinfo=UTC),
        "source": "api",
        "source_page": None,
        "status": "new",
        **changes,
    }
