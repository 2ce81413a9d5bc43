"""Rendering and flattening: the service's shortcuts give exactly the stdlib's bytes."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any

import pytest

from inquiry.config import Settings
from inquiry.notify.render import MessageRenderer, flatten

STDLIB_WIRE = email.policy.default.clone(linesep="\r\n")


def inquiry(number: int, **changes: Any) -> dict[str, Any]:
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


@pytest.fixture
def renderer() -> MessageRenderer:
    return MessageRenderer(Settings(_env_file=None))


CASES = [
    ("admin_notification", "admin@example.ca", {}),
    ("visitor_acknowledgement", "ann@example.ca", {"language": "fr", "name": "Zoé Côté"}),
    ("admin_notification", "admin@example.ca", {"name": 'Eve "x" <evil@example.com>\r\nBcc: a@b'}),
]


class TestFlatten:
    @pytest.mark.parametrize(("kind", "to", "changes"), CASES)
    def test_bytes_are_the_stdlib_generators_message_after_message(
        self, renderer: MessageRenderer, kind: str, to: str, changes: dict[str, Any]
    ) -> None:
        # Several in a row: from the second on, the constant headers come from the memo.
        for number in range(3):
            built = renderer.email(
                kind, to, f"<INQ-TEST{number}.{kind}@x>", inquiry(number, **changes)
            )
            assert flatten(built).data == built.as_bytes(policy=STDLIB_WIRE)

    def test_each_message_has_its_own_boundary_and_its_parts_survive(
        self, renderer: MessageRenderer
    ) -> None:
        built = [
            renderer.email("admin_notification", "admin@example.ca", f"<m{n}@x>", inquiry(n))
            for n in range(2)
        ]
        boundaries = {message.get_boundary() for message in built}
        assert len(boundaries) == 2
        assert None not in boundaries
        parsed = message_from_bytes(flatten(built[0]).data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        parts = {part.get_content_type(): part.get_content() for part in parsed.iter_parts()}
        assert "INQ-TEST00" in parts["text/plain"]
        assert "INQ-TEST00" in parts["text/html"]
