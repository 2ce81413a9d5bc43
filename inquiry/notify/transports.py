"""Ways out of the process: SMTP (aiosmtplib), .eml files, and signed webhooks.

Every failure is sorted into transient (retry later) or permanent (stop now).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import ssl
import time
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import aiosmtplib
import httpx

from inquiry.config import MailTransport, Settings, SmtpSecurity
from inquiry.mail_files import PARTIAL_SUFFIX, file_name
from inquiry.notify.render import OutgoingEmail


class DeliveryError(Exception):
    """A message could not be delivered; `permanent` says whether to try again."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Mailer(Protocol):
    """Sends emails over one connection for the length of an `async with` block."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def send(self, email: OutgoingEmail) -> None: ...

    async def flush(self) -> None:
        """Make everything sent so far final; then it may be recorded as sent."""

    def next_batch(self) -> None:
        """The next batch begins (on the same connection)."""


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.smtp_security is SmtpSecurity.NONE:
        return None
    return _trust(str(settings.smtp_ca_file) if settings.smtp_ca_file else None)


@cache
def _trust(cafile: str | None) -> ssl.SSLContext:
    """Built once: loading the trust store takes tens of milliseconds."""
    return ssl.create_default_context(cafile=cafile)


class SmtpMailer:
    """aiosmtplib, one connection reused for a whole batch."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._tls = _tls_context(settings)
        self._smtp: aiosmtplib.SMTP | None = None
        # A failed connection fails the rest of the batch at once, not once per message.
        self._unreachable: DeliveryError | None = None
        # A refused login fails the rest of the drain: repeated, it could lock the account.
        self._login_refused = False

    def _client(self) -> aiosmtplib.SMTP:
        settings = self._settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password,
            timeout=settings.smtp_timeout_seconds,
            use_tls=settings.smtp_security is SmtpSecurity.TLS,
            start_tls=settings.smtp_security is SmtpSecurity.STARTTLS,
            tls_context=self._tls,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._smtp is not None and self._smtp.is_connected:
            try:
                await self._smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                self._smtp.close()
        self._smtp = None
        self._unreachable = None
        self._login_refused = False

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._unreachable is not None:
            raise self._unreachable
        if self._smtp is None or not self._smtp.is_connected:
            self._smtp = self._client()
            try:
                await self._smtp.connect()
            except aiosmtplib.SMTPAuthenticationError as error:
                # A configuration problem, not the message's: retry until someone fixes it.
                self._unreachable = DeliveryError(
                    f"SMTP login refused: {error.code}", permanent=False
                )
                self._login_refused = True
            except (aiosmtplib.SMTPException, OSError) as error:
                self._unreachable = DeliveryError(f"SMTP connect failed: {error}", permanent=False)
            if self._unreachable is not None:
                self._smtp = None
                raise self._unreachable
        return self._smtp

    async def send(self, email: OutgoingEmail) -> None:
        smtp = await self._connected()
        try:
            errors, _ = await smtp.sendmail(email.sender, list(email.recipients), email.data)
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            await self._reset()
            raise DeliveryError(
                f"recipient refused: {codes}", permanent=all(code >= 500 for code in codes)
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            await self._reset()
            raise DeliveryError(
                f"SMTP {error.code}: {error.message[:200]}", permanent=500 <= error.code < 600
            ) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            self._drop()
            raise DeliveryError(f"SMTP failed: {type(error).__name__}", permanent=False) from error
        if errors:
            codes = [response.code for response in errors.values()]
            raise DeliveryError(f"some recipients refused: {codes}", permanent=False)

    async def flush(self) -> None:
        """Nothing to do: the server accepted each message before `send` returned."""

    def next_batch(self) -> None:
        """A connection that could not be made is tried again for the next batch: one refusal
        must not fail the backlog. A refused login is not, until the next drain.
        """
        if not self._login_refused:
            self._unreachable = None

    async def _reset(self) -> None:
        """Make the connection usable for the next message, or drop it (e.g. after a 421)."""
        if self._smtp is None or not self._smtp.is_connected:
            self._smtp = None
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None


class FileMailer:
    """Writes each email as an .eml file: the embedded default, readable by a person.

    A batch is written in one trip to a thread on `flush` (and when the `async with` block
    ends); if that fails, it raises, nothing is recorded as sent, and the lease brings the
    rows back.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._pending: list[tuple[str, bytes]] = []

    async def __aenter__(self) -> Self:
        self._pending = []
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            await self.flush()
        else:
            self._pending = []  # nothing of a failed block is written

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.to_thread(_write_all, self._folder, pending)

    def next_batch(self) -> None:
        """Nothing to do: each file stands alone."""

    async def send(self, email: OutgoingEmail) -> None:
        self._pending.append((file_name(email.message_id), email.data))


def _write_all(folder: Path, files: list[tuple[str, bytes]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        # Named by Message-ID and renamed into place: a re-send replaces, never duplicates.
        partial = folder / (name + PARTIAL_SUFFIX)
        with open(partial, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, folder / name)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)  # the renames themselves survive a power cut
    finally:
        os.close(directory)


def mailer_for(settings: Settings) -> Mailer:
    if settings.mail_transport is MailTransport.SMTP:
        return SmtpMailer(settings)
    return FileMailer(settings.mail_dir)


SIGNATURE_HEADER = "X-Inquiry-Signature"
TIMESTAMP_HEADER = "X-Inquiry-Timestamp"


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", so a captured request cannot be replayed later."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookSender:
    """POSTs signed JSON alerts with a timeout."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        secret = settings.alert_webhook_secret
        self._secret = secret.get_secret_value() if secret else ""
        self._client = client or httpx.AsyncClient(timeout=settings.alert_webhook_timeout_seconds)

    async def send(self, url: str, body: bytes, message_id: str) -> None:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_webhook(self._secret, timestamp, body),
            "Idempotency-Key": message_id,
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(
                f"webhook failed: {type(error).__name__}", permanent=False
            ) from error
        if response.status_code >= 300:
            retry = response.status_code >= 500 or response.status_code in (408, 429)
            raise DeliveryError(f"webhook answered {response.status_code}", permanent=not retry)

    async def aclose(self) -> None:
        await self._client.aclose()
