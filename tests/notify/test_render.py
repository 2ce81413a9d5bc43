"""Rendering: the bytes written directly parse back to what the EmailMessage API builds."""

from __future__ import annotations

import contextlib
import email.policy
import quopri
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inquiry.config import EmailDetail, Settings
from inquiry.models import OutboxKind
from inquiry.notify.render import MessageRenderer, RenderError, _quoted_printable, addr_spec
from tests.notify.conftest import inquiry

SENDER = "no-reply@ketaminetherapyclinic.ca"
STDLIB_WIRE = email.policy.default.clone(linesep="\r\n")


@pytest.fixture
def renderer() -> MessageRenderer:
    """A renderer in full detail: the visitor's words and contact details are in every
    admin email (summary mode, the default, leaves them out)."""
    return MessageRenderer(Settings(_env_file=None, admin_email_detail=EmailDetail.FULL))


CASES = [
    ("admin_notification", "admin@example.ca", {}),
    ("visitor_acknowledgement", "ann@example.ca", {"language": "fr", "name": "Zoé Côté"}),
    ("admin_notification", "admin@example.ca", {"name": 'Eve "x" <evil@example.com>\r\nBcc: a@b'}),
    ("admin_notification", "admin@example.ca", {"name": "Mary-Ann O'Neil 3rd"}),
    ("admin_notification", "admin@example.ca", {"name": "=?utf-8?q?Admin?="}),
    # Written directly, these would read as two addresses and as an obsolete phrase.
    ("admin_notification", "admin@example.ca", {"name": "Smith, John"}),
    ("admin_notification", "admin@example.ca", {"name": "J. Smith"}),
    # No valid Reply-To can be made: the admin copy goes without one.
    ("admin_notification", "admin@example.ca", {"email": "ann@"}),
    (
        "urgent_alert",
        "oncall@example.ca",
        {"topic": "crisis", "priority": "urgent", "crisis": True},
    ),
    ("visitor_acknowledgement", "v@example.ca", {"language": "fr", "crisis": True}),
]


def reference_email(
    renderer: MessageRenderer,
    kind: str,
    to: str,
    message_id: str,
    row: dict[str, Any],
    wired: EmailMessage,
) -> EmailMessage:
    """The same email built the plain way, with the EmailMessage API: what wire() must equal.

    Date is taken from the wired message (the clock moves on between the two).
    """
    text, html = renderer.bodies(kind, row)
    language = "fr" if row["language"] == "fr" else "en"
    message = EmailMessage(policy=email.policy.default)
    message["Subject"] = renderer.subject(OutboxKind(kind), row, language)
    message["From"] = Address("Ketamine Therapy Clinic", addr_spec=SENDER)
    message["To"] = Address(addr_spec=to)
    message["Date"] = wired["Date"]
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    if kind == "admin_notification":
        with contextlib.suppress(ValueError, IndexError, HeaderParseError):
            message["Reply-To"] = Address(display_name=row["name"], addr_spec=row["email"])
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if kind == "visitor_acknowledgement":
        message["Content-Language"] = row["language"]
    # Through the stdlib's own generator and parser, as the wired bytes go through the parser.
    sent = message_from_bytes(message.as_bytes(policy=STDLIB_WIRE), policy=email.policy.default)
    assert isinstance(sent, EmailMessage)
    return sent


def parts(message: EmailMessage) -> dict[str, str]:
    """Each part's text, line endings as Python writes them."""
    return {
        part.get_content_type(): "\n".join(part.get_content().splitlines())
        for part in message.iter_parts()
    }


def same_headers(parsed: EmailMessage, expected: EmailMessage) -> None:
    """The same headers in the same order, with the same values (each email's boundary aside)."""
    assert parsed.keys() == expected.keys()  # no header added, dropped or injected
    for name in expected.keys():
        if name == "Content-Type":
            assert parsed.get_content_type() == expected.get_content_type()
        else:
            assert str(parsed[name]) == str(expected[name]), name


def check_wire(data: bytes) -> None:
    """7-bit, CRLF line endings only; body lines of at most 76 characters (quoted-printable),
    header lines within RFC 5322's limit (the email package folds them near 78)."""
    assert data.isascii()
    head, body = data.split(b"\r\n\r\n", 1)
    assert all(b"\r" not in line and b"\n" not in line for line in data.split(b"\r\n"))
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


class TestWire:
    @pytest.mark.parametrize(("kind", "to", "changes"), CASES)
    def test_parses_back_to_what_the_email_message_api_builds(
        self, renderer: MessageRenderer, kind: str, to: str, changes: dict[str, Any]
    ) -> None:
        row = inquiry(1, **changes)
        message_id = f"<INQ-TEST01.{kind}@x>"
        wired = renderer.email(kind, to, message_id, row)
        check_wire(wired.data)
        parsed = message_from_bytes(wired.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        expected = reference_email(renderer, kind, to, message_id, row, parsed)
        same_headers(parsed, expected)
        assert parts(parsed) == parts(expected)
        assert (wired.sender, wired.recipients) == (SENDER, (to,))

    def test_each_message_has_its_own_boundary_and_its_parts_survive(
        self, renderer: MessageRenderer
    ) -> None:
        built = [
            message_from_bytes(
                renderer.email(
                    "admin_notification", "admin@example.ca", f"<m{n}@x>", inquiry(n)
                ).data,
                policy=email.policy.default,
            )
            for n in range(2)
        ]
        boundaries = {message.get_boundary() for message in built}
        assert len(boundaries) == 2
        assert None not in boundaries
        assert isinstance(built[0], EmailMessage)
        texts = parts(built[0])
        assert "INQ-TEST00" in texts["text/plain"]
        assert "INQ-TEST00" in texts["text/html"]

    def test_the_date_is_the_time_of_rendering_in_utc(self, renderer: MessageRenderer) -> None:
        before = datetime.now(UTC).replace(microsecond=0)  # Date is written to the second
        wired = renderer.email("admin_notification", "admin@example.ca", "<m@x>", inquiry(1))
        after = datetime.now(UTC)
        date = parsedate_to_datetime(str(message_from_bytes(wired.data)["Date"]))
        assert date.utcoffset() == timedelta(0)
        assert before <= date <= after

    def test_a_message_id_that_is_not_ours_is_refused(self, renderer: MessageRenderer) -> None:
        with pytest.raises(RenderError):
            renderer.email("admin_notification", "admin@example.ca", "<a@b>\r\nBcc: x", inquiry(1))

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(
        name=st.one_of(
            st.text(min_size=1, max_size=80),
            # Printable ASCII: plain names are written directly, the rest by the email package.
            st.from_regex(r"[A-Za-z0-9 '-]{1,30}|[ -~]{1,40}", fullmatch=True),
        ),
        message=st.text(min_size=1, max_size=600),
    )
    def test_any_visitor_text_arrives_intact_in_a_well_formed_message(
        self, name: str, message: str
    ) -> None:
        renderer = MessageRenderer(Settings(_env_file=None, admin_email_detail=EmailDetail.FULL))
        row = inquiry(1, name=name, message=message, language="fr")
        for kind, to in (
            ("admin_notification", "admin@example.ca"),
            ("visitor_acknowledgement", "v@x.ca"),
        ):
            wired = renderer.email(kind, to, f"<INQ-TEST01.{kind}@x>", row)
            check_wire(wired.data)
            parsed = message_from_bytes(wired.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            expected = reference_email(renderer, kind, to, f"<INQ-TEST01.{kind}@x>", row, parsed)
            same_headers(parsed, expected)
            assert parts(parsed) == parts(expected)


class TestTemplateFields:
    @staticmethod
    def renderer_with(tmp_path: Path, text: str) -> MessageRenderer:
        folder = tmp_path / "email"
        folder.mkdir()
        (folder / "admin_notification.txt").write_text(text)
        (folder / "admin_notification.html").write_text("<p>{{ i.name }}</p>")
        return MessageRenderer(Settings(_env_file=None, templates_dir=tmp_path))

    def test_the_inquiry_reads_as_attributes_and_as_a_dict(self, tmp_path: Path) -> None:
        renderer = self.renderer_with(
            tmp_path,
            '{{ i.name }}|{{ i["name"] }}|{{ i.get("phone") }}|{{ "name" in i }}|'
            '{{ i.get("nope", "-") }}',
        )
        text, html = renderer.bodies("admin_notification", inquiry(1, name="Ann <b>"))
        assert text == "Ann <b>|Ann <b>|+14165550199|True|-"
        assert html == "<p>Ann &lt;b&gt;</p>"

    def test_jinja_globals_are_there(self, tmp_path: Path) -> None:
        renderer = self.renderer_with(
            tmp_path,
            "{% set seen = namespace(n=0) %}{% for _ in range(3) %}{% set seen.n = seen.n + 1 %}"
            "{% endfor %}{{ seen.n }} {{ dict(a=1)['a'] }}",
        )
        text, _ = renderer.bodies("admin_notification", inquiry(1))
        assert text == "3 1"

    def test_received_is_written_in_the_clinic_time_zone(self, tmp_path: Path) -> None:
        folder = tmp_path / "email"
        folder.mkdir()
        (folder / "admin_notification.txt").write_text("{{ received }}")
        (folder / "admin_notification.html").write_text("{{ received }}")
        row = inquiry(1, created_at=datetime(2026, 11, 28, 15, 0, tzinfo=UTC))
        for zone, local in (
            ("America/Toronto", "2026-11-28 10:00 EST"),
            ("America/Vancouver", "2026-11-28 07:00 PST"),
            ("America/Halifax", "2026-11-28 11:00 AST"),
        ):
            settings = Settings(_env_file=None, templates_dir=tmp_path, clinic_timezone=zone)
            text, _ = MessageRenderer(settings).bodies("admin_notification", row)
            assert text == local

    def test_a_field_that_does_not_exist_cannot_render(self, tmp_path: Path) -> None:
        renderer = self.renderer_with(tmp_path, "{{ i.nope }}")
        with pytest.raises(RenderError, match="nope"):
            renderer.bodies("admin_notification", inquiry(1))


class TestQuotedPrintable:
    @staticmethod
    def decoded(encoded: str) -> str:
        """The text back, after checking the encoding: 7-bit, CRLF only, lines of 76 at most."""
        assert encoded.isascii()
        lines = encoded.split("\r\n")
        assert all("\r" not in line and "\n" not in line for line in lines)
        assert max(map(len, lines)) <= 76
        return quopri.decodestring(encoded.encode()).decode()

    @staticmethod
    def crlf(text: str) -> str:
        """What the part must decode to: CR, LF and CRLF each end a line, written as CRLF."""
        return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")

    @pytest.mark.parametrize(
        "text",
        [
            "y" * 74 + " \nnext",  # binascii writes 77 characters here
            "y" * 75 + " \nnext",  # and 78 here
            "y" * 69 + "é \nnext",
            "Hello\r\nsecond\rthird\nfourth",
            "no newline at all " * 10,
            "=?utf-8?q?not=20a=20word?= trailing tab\t",
        ],
    )
    def test_lines_of_76_and_the_text_back(self, text: str) -> None:
        encoded = _quoted_printable(text)
        assert self.decoded(encoded) == self.crlf(text)

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from("ab =.\t\r\néç—😀"), max_size=400))
    def test_any_text(self, text: str) -> None:
        encoded = _quoted_printable(text)
        assert self.decoded(encoded) == self.crlf(text)


class TestAddrSpec:
    """addr_spec() writes plain addresses itself: exactly what the email package would."""

    @staticmethod
    def package(address: str) -> str | None:
        try:
            return Address(addr_spec=address).addr_spec
        except (ValueError, IndexError, HeaderParseError):  # "a@" is an IndexError
            return None

    @staticmethod
    def ours(address: str) -> str | None:
        try:
            return addr_spec(address)
        except (ValueError, IndexError, HeaderParseError):
            return None

    @pytest.mark.parametrize(
        "address",
        [
            "ann@example.ca",
            "o'neil+clinic@xn--bcher-kva.example",
            "a.b@c",
            "a..b@c",
            ".a@c",
            "a b@c",
            '"a b"@c',
            "a@b\r\nBcc: x@y",
            "a@",
            "@b",
            "a@b@c",
        ],
    )
    def test_the_same_text_or_the_same_refusal(self, address: str) -> None:
        assert self.ours(address) == self.package(address)

    @settings(max_examples=300, derandomize=True)
    @given(address=st.from_regex(r"[ -~]{1,20}@[ -~]{1,20}", fullmatch=True))
    def test_any_printable_ascii(self, address: str) -> None:
        assert self.ours(address) == self.package(address)
