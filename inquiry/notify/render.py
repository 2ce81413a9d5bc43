"""Turn an outbox row and its inquiry into an email (text and HTML) or a webhook payload."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import orjson

from inquiry.config import EmailDetail, Settings
from inquiry.models import OutboxKind, as_utc

CLINIC_TIME = ZoneInfo("America/Toronto")

_TOPIC_LABEL = {
    "crisis": "Crisis",
    "clinical": "Clinical",
    "new_patient": "New patient",
    "appointment": "Appointment",
    "billing": "Billing",
    "referral": "Referral",
    "general": "General",
    "spam": "Spam",
}
_VISITOR_SUBJECT = {
    (OutboxKind.VISITOR_ACKNOWLEDGEMENT, "en"): "We received your message ({reference})",
    (OutboxKind.VISITOR_ACKNOWLEDGEMENT, "fr"): "Nous avons bien reçu votre message ({reference})",
    (OutboxKind.VISITOR_UNREACHABLE, "en"): "We tried to call you ({reference})",
    (OutboxKind.VISITOR_UNREACHABLE, "fr"): "Nous avons tenté de vous joindre ({reference})",
}
_CRISIS_FIRST = {
    "en": "If you are in danger now, call 911 or 9-8-8",
    "fr": "En danger maintenant? Composez le 911 ou le 9-8-8",
}
_WINDOW = {
    "en": {"morning": "morning", "afternoon": "afternoon", "evening": "evening"},
    "fr": {"morning": "le matin", "afternoon": "l'après-midi", "evening": "le soir"},
}


class _CachedHeaderRegistry(HeaderRegistry):
    """Header parsing, memoised: most headers of our emails repeat message after message.

    The stdlib builds a new header class with type() on every lookup and parses every value
    from scratch; both showed at the top of the worker's profile. Parsed headers are
    immutable, so repeated (name, value) pairs (From, the admin address, content types)
    share one object. Values that differ per message simply miss the small cache.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}
        self._parsed = lru_cache(maxsize=1024)(super().__call__)

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found

    def __call__(self, name: str, value: Any) -> Any:
        if type(value) is str:  # Address objects and the like are not hashable: parse them
            return self._parsed(name, value)
        return super().__call__(name, value)


# Headers whose values the service writes itself, from a handful of constants.
_OWN_HEADERS = frozenset(
    {"from", "mime-version", "content-type", "content-transfer-encoding", "auto-submitted"}
)
_FOLDED_MAX = 256


class _WirePolicy(EmailPolicy):
    """Folds each of the service's own constant headers once, not once per message.

    Folding re-walks a header's parse tree and was a third of flattening. Only headers in
    _OWN_HEADERS are remembered (never a visitor's text), and not multipart Content-Types,
    which carry each message's own boundary.
    """

    def fold_binary(self, name: str, value: Any) -> bytes:
        key, text = name.lower(), str(value)
        if key not in _OWN_HEADERS or text.startswith("multipart/"):
            return super().fold_binary(name, value)
        remembered = (key, type(value), text)
        folded = _FOLDED.get(remembered)
        if folded is None:
            folded = super().fold_binary(name, value)
            if len(_FOLDED) < _FOLDED_MAX:
                _FOLDED[remembered] = folded
        return folded


_FOLDED: dict[tuple[str, type, str], bytes] = {}

_HEADERS = _CachedHeaderRegistry()
POLICY = EmailPolicy(header_factory=_HEADERS)
# What goes on the wire (and into .eml files): CRLF line endings, lines folded at 78.
WIRE_POLICY = _WirePolicy(header_factory=_HEADERS, linesep="\r\n")


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A rendered, flattened email: what a transport needs and nothing else."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str


def flatten(message: EmailMessage) -> OutgoingEmail:
    """The envelope and bytes of a built message (only To recipients are used here)."""
    sender = message["From"].addresses[0].addr_spec
    recipients = tuple(address.addr_spec for address in message["To"].addresses)
    return OutgoingEmail(
        sender, recipients, message.as_bytes(policy=WIRE_POLICY), message["Message-ID"]
    )


class RenderError(Exception):
    """The message cannot be built (a template or data problem): retrying will not help."""


_VISITOR_FACING = frozenset({OutboxKind.VISITOR_ACKNOWLEDGEMENT, OutboxKind.VISITOR_UNREACHABLE})


def _boundary(message: EmailMessage) -> str:
    """A random MIME boundary that no encoded part contains.

    Left to itself, the email generator picks one and compiles a new regex to check it, for
    every message: 8% of a rendered message's instructions (callgrind), and it flushed the
    `re` module's cache of every pattern the rest of the process uses.
    """
    parts = [str(part.get_payload()) for part in message.iter_parts()]
    while True:
        boundary = f"==============={secrets.token_hex(16)}=="
        if not any(boundary in part for part in parts):
            return boundary


def _language(inquiry: Mapping[str, Any]) -> str:
    return "fr" if inquiry["language"] == "fr" else "en"


def _suffix(kind: OutboxKind, language: str) -> str:
    """Visitor-facing templates exist once per language; staff ones are in English."""
    return f".{language}" if kind in _VISITOR_FACING else ""


class MessageRenderer:
    """Renders the templates in templates/email/ (HTML autoescaped, text verbatim)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        loader = jinja2.FileSystemLoader(settings.templates_dir / "email")
        self._html = jinja2.Environment(
            loader=loader, autoescape=True, undefined=jinja2.StrictUndefined
        )
        self._text = jinja2.Environment(
            loader=loader,
            autoescape=False,  # noqa: S701 - text/plain bodies: HTML escaping would garble them
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        name, address = parseaddr(settings.mail_from)
        self._sender = str(Address(display_name=name, addr_spec=address))

    def email(
        self, kind: str, recipient: str, message_id: str, inquiry: Mapping[str, Any]
    ) -> EmailMessage:
        """Build the email for one outbox row."""
        text, html = self.bodies(kind, inquiry)
        return self.build(kind, recipient, message_id, inquiry, text, html)

    def bodies(self, kind: str, inquiry: Mapping[str, Any]) -> tuple[str, str]:
        """The text and HTML bodies (two steps, so the worker can yield between them)."""
        try:
            language = _language(inquiry)
            context = self._context(inquiry, language)
            name = f"{kind}{_suffix(OutboxKind(kind), language)}"
            return (
                self._text.get_template(f"{name}.txt").render(context),
                self._html.get_template(f"{name}.html").render(context),
            )
        except (jinja2.TemplateError, ValueError, KeyError, IndexError) as error:
            raise RenderError(f"{kind}: {type(error).__name__}: {error}") from error

    def build(
        self,
        kind: str,
        recipient: str,
        message_id: str,
        inquiry: Mapping[str, Any],
        text: str,
        html: str,
    ) -> EmailMessage:
        """The message with its headers; header values are objects, never concatenated."""
        *_, message = self.build_steps(kind, recipient, message_id, inquiry, text, html)
        assert message is not None
        return message

    def build_steps(
        self,
        kind: str,
        recipient: str,
        message_id: str,
        inquiry: Mapping[str, Any],
        text: str,
        html: str,
    ) -> Iterator[EmailMessage | None]:
        """build() in steps of about 0.1 ms (None between them, the message last).

        The worker gives the event loop a turn at each None, so that the SMTP server's
        replies are read promptly while the next message is being built.
        """
        try:
            outbox_kind = OutboxKind(kind)
            language = _language(inquiry)
            message = EmailMessage(policy=POLICY)
            message["Subject"] = self._subject(outbox_kind, inquiry, language)
            # Built as Address objects, passed as their exact text so the parse is memoised.
            message["From"] = self._sender
            message["To"] = str(Address(addr_spec=recipient))
            message["Date"] = format_datetime(datetime.now(UTC))
            message["Message-ID"] = message_id
            message["Auto-Submitted"] = "auto-generated"
            if outbox_kind is OutboxKind.ADMIN_NOTIFICATION and inquiry["email"]:
                self._reply_to_visitor(message, inquiry)
            yield None
            message.set_content(text)
            yield None
            message.add_alternative(html, subtype="html")
            message.set_boundary(_boundary(message))
            if outbox_kind in _VISITOR_FACING:
                # After the body: set_content() clears Content-* headers.
                message["Content-Language"] = language
        except (ValueError, KeyError, IndexError, HeaderParseError) as error:
            raise RenderError(f"{kind}: {type(error).__name__}: {error}") from error
        yield message

    @staticmethod
    def _reply_to_visitor(message: EmailMessage, inquiry: Mapping[str, Any]) -> None:
        """Staff press Reply and write to the visitor: an Address, never concatenated.

        The admin copy must go out whatever the visitor typed: if their details cannot make
        a valid Reply-To, the message goes without one (the address is in the body).
        """
        try:
            message["Reply-To"] = Address(display_name=inquiry["name"], addr_spec=inquiry["email"])
        except (ValueError, HeaderParseError):
            del message["Reply-To"]

    def _subject(self, kind: OutboxKind, inquiry: Mapping[str, Any], language: str) -> str:
        reference = inquiry["reference"]
        topic = _TOPIC_LABEL.get(inquiry["topic"], inquiry["topic"])
        if kind is OutboxKind.ADMIN_NOTIFICATION:
            return f"[{str(inquiry['priority']).upper()}] {topic} — {reference}"
        if kind is OutboxKind.URGENT_ALERT:
            return f"[URGENT] {topic} — {reference} — call back now"
        subject = _VISITOR_SUBJECT[(kind, language)].format(reference=reference)
        if kind is OutboxKind.VISITOR_ACKNOWLEDGEMENT and inquiry["crisis"]:
            subject = f"{_CRISIS_FIRST[language]} — {subject}"
        return subject

    def _context(self, inquiry: Mapping[str, Any], language: str) -> dict[str, Any]:
        settings = self._settings
        received = as_utc(inquiry["created_at"]).astimezone(CLINIC_TIME)
        return {
            "i": inquiry,
            "heading": f"New inquiry {inquiry['reference']}",
            "received": received.strftime("%Y-%m-%d %H:%M %Z"),
            "reasons": json.loads(inquiry["triage_reasons"] or "[]"),
            "full": settings.admin_email_detail is EmailDetail.FULL,
            "link": staff_link(settings, inquiry["reference"]),
            "resources": settings.crisis_resources[language],
            "clinic": settings.clinic_name,
            "phone": settings.clinic_phone,
            "window": _WINDOW[language].get(inquiry["callback_window"], ""),
        }

    def webhook_payload(self, inquiry: Mapping[str, Any]) -> bytes:
        """The urgent alert for chat or paging tools: no names, no message text."""
        return orjson.dumps(
            {
                "event": "urgent_inquiry",
                "reference": inquiry["reference"],
                "topic": inquiry["topic"],
                "priority": inquiry["priority"],
                "crisis": bool(inquiry["crisis"]),
                "language": inquiry["language"],
                "received_at": as_utc(inquiry["created_at"]).isoformat(),
                "link": staff_link(self._settings, inquiry["reference"]),
            }
        )


def staff_link(settings: Settings, reference: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/staff/inquiries/{reference}"
