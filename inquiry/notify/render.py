"""Turn an outbox row and its inquiry into an email (text and HTML) or a webhook payload."""

from __future__ import annotations

import base64
import binascii
import email.policy
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import quoprimime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import orjson

from inquiry.callbacks.models import Channel
from inquiry.callbacks.tasks import channel_owed
from inquiry.config import EmailDetail, Settings
from inquiry.models import OutboxKind, as_utc
from inquiry.triage import reason_categories
from inquiry.triage.taxonomy import Topic

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


# For the headers the email package still writes (From, and names or addresses that need
# quoting or encoding): CRLF line endings, lines folded at 78.
_WIRE_POLICY = email.policy.default.clone(linesep="\r\n")
_CRLF = "\r\n"
_QP_LINE = 76  # RFC 2045 6.7: encoded lines of at most 76 characters
# Message-IDs are the service's own (<reference.kind@domain>): printable ASCII, no spaces.
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>")
_PART = (
    "--{boundary}\r\n"
    'Content-Type: text/{subtype}; charset="utf-8"\r\n'
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "{body}\r\n"
)


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A rendered email as it goes on the wire: what a transport needs and nothing else."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str


class RenderError(Exception):
    """The message cannot be built (a template or data problem): retrying will not help."""


_VISITOR_FACING = frozenset({OutboxKind.VISITOR_ACKNOWLEDGEMENT, OutboxKind.VISITOR_UNREACHABLE})


def _header(name: str, value: Any) -> str:
    """One header line, parsed and folded by the email package: encoded words for non-ASCII,
    quoting for display names, and no way for a CR or LF in a value to start another header.
    """
    folded: str = _WIRE_POLICY.fold(name, _WIRE_POLICY.header_factory(name, value))
    return folded


# A display name of plain words (letters, digits, apostrophes, hyphens) is written as it is,
# exactly as the email package writes it; anything else goes through the package.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9'-]+(?: [A-Za-z0-9'-]+)*")
# Encoded words are at most 75 characters: 45 bytes of UTF-8 make 60 of base64.
_WORD_BYTES = 45


def _own_text(name: str, text: str) -> str:
    """A header holding the service's own text (a subject): plain when it is short printable
    ASCII, otherwise RFC 2047 encoded words, one per 45 bytes, each on its own line.

    The email package does the same in 30 µs of parsing and folding per message.
    """
    if text.isascii() and text.isprintable() and len(name) + len(text) <= 76:
        return f"{name}: {text}\r\n"
    words: list[str] = []
    chunk = b""
    for char in text:
        encoded = char.encode()
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk.decode())
            chunk = b""
        chunk += encoded
    words.append(chunk.decode())
    encoded_words = [f"=?utf-8?b?{base64.b64encode(word.encode()).decode()}?=" for word in words]
    return f"{name}: " + "\r\n ".join(encoded_words) + "\r\n"


_ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_PLAIN_ADDRESS = re.compile(f"{_DOT_ATOM}@{_DOT_ATOM}")


def addr_spec(address: str) -> str:
    """The address as it is written in a header.

    A dot-atom address (what intake accepts) is its own addr-spec; anything else is parsed
    by the email package, which quotes what needs quoting and refuses what is not an address
    with ValueError, IndexError or HeaderParseError (its parser raises all three).
    """
    if _PLAIN_ADDRESS.fullmatch(address):
        return address
    parsed: str = Address(addr_spec=address).addr_spec
    return parsed


@lru_cache(maxsize=1)
def _date_line(second: int) -> str:
    """The Date header: the same for every message of the same second, formatted once."""
    return f"Date: {format_datetime(datetime.fromtimestamp(second, UTC))}\r\n"


def _address(name: str, spec: str, display: str = "") -> str:
    """An address header for an addr_spec() result: written directly for a bare address or a
    plain name, else folded by the email package (quoting, encoded words). A CR or LF cannot
    pass addr_spec() or the plain-name pattern, and the package encodes the rest.
    """
    if not display:
        return f"{name}: {spec}\r\n"
    line = f"{name}: {display} <{spec}>\r\n"
    if _PLAIN_NAME.fullmatch(display) and len(line) <= 80:
        return line
    return _header(name, Address(display_name=display, addr_spec=spec))


def _quoted_printable(text: str) -> str:
    """A body part in quoted-printable UTF-8: 7-bit clean, lines of at most 76 characters.

    CR, LF and CRLF all end a line; anything else unprintable is escaped. binascii does it
    in C, four times faster than the email package's pure-Python encoder, but it can leave
    a line of 77 or 78 characters where it escapes trailing whitespace before a soft break:
    such a part is encoded again by the email package, which keeps to 76.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    encoded = binascii.b2a_qp(lines, quotetabs=False, istext=True, header=False)
    if max(map(len, encoded.split(b"\n"))) > _QP_LINE:
        # Encoded byte by byte (UTF-8 read as Latin-1), as the package's content manager does.
        return quoprimime.body_encode(text.encode().decode("latin-1"), _QP_LINE, eol=_CRLF)
    # With no CR in its input, binascii ends every line with a bare LF.
    return encoded.replace(b"\n", b"\r\n").decode("ascii")


def _boundary(parts: tuple[str, ...]) -> str:
    """A random MIME boundary. Quoted-printable writes "=" as "=3D", so a run of "=" cannot
    occur in an encoded part; the check costs nothing and keeps that reasoning honest.
    """
    while True:
        boundary = f"==============={secrets.token_hex(16)}=="
        if not any(boundary in part for part in parts):
            return boundary


class _Fields:
    """The inquiry for templates: its keys read as attributes, and as a dict's keys.

    Jinja resolves `i.name` with getattr() first. Read from an instance's own __dict__, that
    is done in C; a dict subclass answering through __getattr__ made it a Python call for each
    of the 24 fields an admin email reads, 40% of its render time. Templates may also write
    `i["name"]`, `i.get("name")` and `"name" in i`.
    """

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.__dict__.update(fields)

    def __getitem__(self, name: str) -> Any:
        return self.__dict__[name]

    def __contains__(self, name: object) -> bool:
        return name in self.__dict__

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)


def _render(template: jinja2.Template, context: dict[str, Any]) -> str:
    """What Template.render() does, less its two copies of the context per call (one of them
    to merge in Jinja's globals, which MessageRenderer's context already holds): a quarter of
    the time.
    """
    try:
        return "".join(template.root_render_func(template.new_context(context, shared=True)))
    except Exception:  # noqa: BLE001 - re-raised by Jinja, with the template's own line numbers
        return template.environment.handle_exception()


def _language(inquiry: Mapping[str, Any]) -> str:
    return "fr" if inquiry["language"] == "fr" else "en"


def _suffix(kind: OutboxKind, language: str) -> str:
    """Visitor-facing templates exist once per language; staff ones are in English."""
    return f".{language}" if kind in _VISITOR_FACING else ""


class MessageRenderer:
    """Renders the templates in templates/email/ (HTML autoescaped, text verbatim)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clinic_time = ZoneInfo(settings.clinic_timezone)  # as the callback schedule reads it
        loader = jinja2.FileSystemLoader(settings.templates_dir / "email")
        # Templates are read once: auto_reload would stat both files for every message.
        self._html = jinja2.Environment(
            loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, auto_reload=False
        )
        self._text = jinja2.Environment(
            loader=loader,
            autoescape=False,  # noqa: S701 - text/plain bodies: HTML escaping would garble them
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        # range, namespace, dict...: the same in both environments, put in every context once.
        self._globals = dict(self._html.globals)
        name, address = parseaddr(settings.mail_from)
        sender = Address(display_name=name, addr_spec=address)
        self._sender = sender.addr_spec
        self._from_line = _header("From", sender)

    def email(
        self, kind: str, recipient: str, message_id: str, inquiry: Mapping[str, Any]
    ) -> OutgoingEmail:
        """Build the email for one outbox row."""
        text, html = self.bodies(kind, inquiry)
        return self.wire(kind, recipient, message_id, inquiry, text, html)

    def bodies(self, kind: str, inquiry: Mapping[str, Any]) -> tuple[str, str]:
        """The text and HTML bodies."""
        try:
            language = _language(inquiry)
            context = self._context(inquiry, language)
            name = f"{kind}{_suffix(OutboxKind(kind), language)}"
            return (
                _render(self._text.get_template(f"{name}.txt"), context),
                _render(self._html.get_template(f"{name}.html"), context),
            )
        except (jinja2.TemplateError, ValueError, KeyError, IndexError) as error:
            raise RenderError(f"{kind}: {type(error).__name__}: {error}") from error

    def wire(
        self,
        kind: str,
        recipient: str,
        message_id: str,
        inquiry: Mapping[str, Any],
        text: str,
        html: str,
    ) -> OutgoingEmail:
        """The email's bytes, multipart text + HTML in quoted-printable UTF-8, written directly.

        A dot-atom address is written as it is, any other one is parsed by the email package
        (a CR or LF cannot survive either); a plain display name is written as the package
        would write it, any other one is quoted or encoded by the package itself. The subject
        is the service's own text, encoded words when it is not plain ASCII. Building an
        EmailMessage and flattening it cost 0.6 ms a message, most of the worker's time; this
        costs well under 0.1 ms. Tests parse these bytes back and compare them with what the
        EmailMessage API builds.
        """
        try:
            outbox_kind = OutboxKind(kind)
            language = _language(inquiry)
            if not _MESSAGE_ID.fullmatch(message_id):
                raise ValueError(f"not a Message-ID: {message_id!r}")
            to = addr_spec(recipient)
            lines = [
                _own_text("Subject", self.subject(outbox_kind, inquiry, language)),
                self._from_line,
                _address("To", to),
                _date_line(int(time.time())),
                f"Message-ID: {message_id}\r\n",
                "Auto-Submitted: auto-generated\r\n",
            ]
            if (
                outbox_kind is OutboxKind.ADMIN_NOTIFICATION
                and inquiry["email"]
                and self._settings.admin_email_detail is EmailDetail.FULL
            ):
                lines += self._reply_to_visitor(inquiry)
            parts = (_quoted_printable(text), _quoted_printable(html))
            boundary = _boundary(parts)
            lines += [
                "MIME-Version: 1.0\r\n",
                # Folded: with the boundary, the line would pass 78 characters.
                f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n',
            ]
            if outbox_kind in _VISITOR_FACING:
                lines.append(f"Content-Language: {language}\r\n")
            lines.append("\r\n")
            for subtype, body in zip(("plain", "html"), parts, strict=True):
                lines.append(_PART.format(boundary=boundary, subtype=subtype, body=body))
            lines.append(f"--{boundary}--\r\n")
            data = "".join(lines).encode("ascii")
        except (ValueError, KeyError, IndexError, HeaderParseError) as error:
            raise RenderError(f"{kind}: {type(error).__name__}: {error}") from error
        return OutgoingEmail(self._sender, (to,), data, message_id)

    @staticmethod
    def _reply_to_visitor(inquiry: Mapping[str, Any]) -> list[str]:
        """Staff press Reply and write to the visitor: an Address, never concatenated.

        The admin copy must go out whatever the visitor typed: if their details cannot make
        a valid Reply-To, the message goes without one (the address is in the body).
        """
        try:
            return [_address("Reply-To", addr_spec(inquiry["email"]), inquiry["name"])]
        except (ValueError, IndexError, HeaderParseError):  # the package's parser raises all
            return []

    def subject(self, kind: OutboxKind, inquiry: Mapping[str, Any], language: str) -> str:
        reference = inquiry["reference"]
        topic = _TOPIC_LABEL.get(inquiry["topic"], inquiry["topic"])
        if kind is OutboxKind.ADMIN_NOTIFICATION:
            subject = f"[{str(inquiry['priority']).upper()}] {topic} — {reference}"
            label = inquiry.get("form_subject")
            return f"{subject} — {label}" if label else subject
        if kind is OutboxKind.URGENT_ALERT:
            return f"[URGENT] {topic} — {reference} — call back now"
        if kind is OutboxKind.CALLBACK_DECISION:
            return f"[URGENT] {topic} — {reference} — not reached: an admin must decide"
        subject = _VISITOR_SUBJECT[(kind, language)].format(reference=reference)
        if kind is OutboxKind.VISITOR_ACKNOWLEDGEMENT and inquiry["crisis"]:
            subject = f"{_CRISIS_FIRST[language]} — {subject}"
        return subject

    def _context(self, inquiry: Mapping[str, Any], language: str) -> dict[str, Any]:
        settings = self._settings
        received = as_utc(inquiry["created_at"]).astimezone(self._clinic_time)
        reasons = json.loads(inquiry["triage_reasons"] or "[]")
        return {
            **self._globals,
            "i": _Fields(inquiry),
            "heading": f"New inquiry {inquiry['reference']}",
            "received": received.strftime("%Y-%m-%d %H:%M %Z"),
            "reasons": reasons,
            "reason_categories": reason_categories(reasons),
            "full": settings.admin_email_detail is EmailDetail.FULL,
            "link": staff_link(settings, inquiry["reference"]),
            "resources": settings.crisis_resources[language],
            "clinic": settings.clinic_name,
            "phone": settings.clinic_phone,
            "window": _WINDOW[language].get(inquiry["callback_window"], ""),
            "greeting_name": greeting_name(inquiry["name"]),
            "follow_up": follow_up(inquiry),
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


# What of the visitor's own words may appear in mail to the address they typed: a name of
# letters, spaces, hyphens and apostrophes, a few words, 40 characters at most. Anyone can
# type anyone's address, so anything more ("Your prescription is on hold: pay at …") would
# be the clinic sending a stranger's text; other names get a greeting without one.
_GREETING_NAME = re.compile(r"(?:[^\W\d_]|['’-])+(?: (?:[^\W\d_]|['’-])+){0,3}")
_GREETING_NAME_MAX = 40


def follow_up(inquiry: Mapping[str, Any]) -> str:
    """How the visitor will hear from the clinic, as its task's channel says: "phone" or
    "email". An inquiry owing no task is answered by email."""
    channel = channel_owed(
        phone=inquiry["phone"],
        email=inquiry["email"],
        prefers_phone=inquiry["preferred_contact"] == "phone",
        topic=Topic(inquiry["topic"]),
        quarantined=False,
    )
    return (channel or Channel.EMAIL).value


def greeting_name(name: str) -> str:
    """The name to greet a visitor by in mail to them, or "" for a greeting without one."""
    name = " ".join(name.split())
    if len(name) > _GREETING_NAME_MAX or not _GREETING_NAME.fullmatch(name):
        return ""
    return name if any(char.isalpha() for char in name) else ""


def staff_link(settings: Settings, reference: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/staff/inquiries/{reference}"
