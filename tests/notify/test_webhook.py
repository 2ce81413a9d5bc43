"""Urgent alerts to a webhook: a real HTTP receiver, HMAC-signed, without message text."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import Settings
from inquiry.notify.transports import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.conftest import free_port, valid_inquiry
from tests.notify.conftest import Sink, drain, smtp_settings, statuses, submit

SECRET = "webhook-secret-for-tests"  # noqa: S105


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    hook = Receiver(url=f"http://127.0.0.1:{port}/alerts")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.requests.append((dict(self.headers.items()), body))
            self.send_response(hook.answers.pop(0) if hook.answers else 204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield hook
    server.shutdown()


@pytest.fixture
def webhook_settings(
    database_url: str, tmp_path: Path, smtp_sink: Sink, receiver: Receiver
) -> Settings:
    return smtp_settings(
        database_url,
        tmp_path,
        smtp_sink,
        alert_webhook_url=receiver.url,
        alert_webhook_secret=SECRET,
    )


CRISIS = valid_inquiry(message="My brother told me he is going to kill himself tonight.")


class TestWebhookAlert:
    async def test_crisis_posts_a_signed_alert_without_message_text(
        self,
        webhook_settings: Settings,
        smtp_sink: Sink,
        receiver: Receiver,
        engine: AsyncEngine,
    ) -> None:
        settings = webhook_settings
        [reference] = await submit(settings, CRISIS)
        await drain(engine, settings)

        [(headers, body)] = receiver.requests
        payload = json.loads(body)
        assert payload["reference"] == reference
        assert payload["crisis"] is True
        assert payload["priority"] == "urgent"
        assert "kill" not in body.decode()
        assert "Marie" not in body.decode()
        signed = headers[TIMESTAMP_HEADER].encode() + b"." + body
        expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
        assert ("urgent_webhook", "sent", 1) in await statuses(engine)

    async def test_non_urgent_inquiries_do_not_alert(
        self,
        webhook_settings: Settings,
        smtp_sink: Sink,
        receiver: Receiver,
        engine: AsyncEngine,
    ) -> None:
        settings = webhook_settings
        await submit(settings, valid_inquiry())
        await drain(engine, settings)
        assert receiver.requests == []
        assert smtp_sink.by_kind("urgent_alert") == []

    @pytest.mark.parametrize(("answer", "status"), [(503, "pending"), (400, "dead")])
    async def test_server_errors_retry_and_client_errors_are_dead(
        self,
        webhook_settings: Settings,
        smtp_sink: Sink,
        receiver: Receiver,
        engine: AsyncEngine,
        answer: int,
        status: str,
    ) -> None:
        settings = webhook_settings
        receiver.answers = [answer]
        await submit(settings, CRISIS)
        await drain(engine, settings)
        assert ("urgent_webhook", status, 1) in await statuses(engine)
