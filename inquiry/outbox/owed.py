"""What an inquiry owes (mail and alerts), how urgent each message is, and its Message-ID.

Owed messages are outbox columns without `inquiry_id` and `message_id`: they are decided
before the inquiry is stored, and `addressed` completes them once its id is known.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from inquiry.config import Settings
from inquiry.models import Inquiry, OutboxKind, OutboxStatus, outbox_table
from inquiry.triage.taxonomy import Topic

# On-call alerts: sent ahead of any backlog, whatever the inquiry.
ALERT_KINDS = frozenset(
    {OutboxKind.URGENT_ALERT, OutboxKind.URGENT_WEBHOOK, OutboxKind.CALLBACK_DECISION}
)


def is_urgent(kind: OutboxKind, *, crisis: bool) -> bool:
    """Whether a message is claimed ahead of the rest: everything owed on a crisis inquiry,
    and every on-call alert. After the mail server has been down for hours, a crisis must not
    wait behind the backlog."""
    return crisis or kind in ALERT_KINDS


def is_urgent_sql(*, crisis: bool) -> sa.ColumnElement[bool]:
    """is_urgent() for rows already stored, as SQL over their kind."""
    return sa.true() if crisis else outbox_table.c.kind.in_(ALERT_KINDS)


def owed_on_intake(
    settings: Settings,
    *,
    visitor_email: str | None,
    topic: Topic,
    crisis: bool,
    quarantined: bool,
    now: datetime,
    acknowledge: bool = True,
) -> list[dict[str, Any]]:
    """The messages a new inquiry owes: the clinic's copy, the visitor's acknowledgement, and
    the on-call alerts for a crisis (or, if the clinic asks, any clinical question).

    `acknowledge` is false past the address's daily limit of acknowledgements: the row is kept,
    marked skipped, so the staff see it was owed and not sent.
    """
    if quarantined:
        return []  # spam is kept for review, never acknowledged
    owed = [_pending(OutboxKind.ADMIN_NOTIFICATION, settings.admin_email, now, crisis)]
    if visitor_email:
        ack = _pending(OutboxKind.VISITOR_ACKNOWLEDGEMENT, visitor_email, now, crisis)
        if not acknowledge:
            ack["status"] = OutboxStatus.SKIPPED.value
        owed.append(ack)
    if crisis or (topic is Topic.CLINICAL and settings.alert_on_clinical):
        owed += [
            _pending(OutboxKind.URGENT_ALERT, to, now, crisis) for to in settings.oncall_emails
        ]
        if settings.alert_webhook_url:
            owed.append(
                _pending(OutboxKind.URGENT_WEBHOOK, settings.alert_webhook_url, now, crisis)
            )
    return owed


def owed_on_release(
    settings: Settings, inquiry: Inquiry, *, queued: frozenset[str], now: datetime
) -> list[dict[str, Any]]:
    """The messages a quarantined inquiry owes once staff release it as not spam: the
    acknowledgement it never got (if it has an email address) and the on-call alerts its new
    triage calls for; none of a kind already queued (`queued`) on it. The clinic's copy is
    not sent again: staff are looking at the inquiry."""
    crisis = inquiry.crisis
    owed = []
    if inquiry.email:
        owed.append(_pending(OutboxKind.VISITOR_ACKNOWLEDGEMENT, inquiry.email, now, crisis))
    if crisis or (inquiry.topic == Topic.CLINICAL and settings.alert_on_clinical):
        owed += [
            _pending(OutboxKind.URGENT_ALERT, to, now, crisis) for to in settings.oncall_emails
        ]
        if settings.alert_webhook_url:
            owed.append(
                _pending(OutboxKind.URGENT_WEBHOOK, settings.alert_webhook_url, now, crisis)
            )
    return [message for message in owed if message["kind"] not in queued]


def owed_when_unreachable(inquiry: Inquiry, *, now: datetime) -> list[dict[str, Any]]:
    """The phone team gave up calling: the visitor is told by email, if they gave an address."""
    if not inquiry.email:
        return []
    return [_pending(OutboxKind.VISITOR_UNREACHABLE, inquiry.email, now, inquiry.crisis)]


def owed_on_decision(
    settings: Settings, inquiry: Inquiry, *, now: datetime
) -> list[dict[str, Any]]:
    """An urgent call ran out of attempts: the on-call team is told an admin must decide."""
    return [
        _pending(OutboxKind.CALLBACK_DECISION, to, now, inquiry.crisis)
        for to in settings.oncall_emails
    ]


def addressed(
    owed: list[dict[str, Any]],
    *,
    inquiry_id: int,
    reference: str,
    domain: str,
    earlier: Counter[str] | None = None,
) -> list[dict[str, Any]]:
    """The rows to store: each owed message with its inquiry and its Message-ID (numbered
    after the `earlier` messages of each kind already stored on the inquiry)."""
    ids = message_ids(reference, owed, domain, earlier)
    return [
        {**message, "inquiry_id": inquiry_id, "message_id": message_id}
        for message, message_id in zip(owed, ids, strict=True)
    ]


def message_ids(
    reference: str, owed: list[dict[str, Any]], domain: str, earlier: Counter[str] | None = None
) -> list[str]:
    """Stable Message-IDs: a re-send after a crash carries the same one."""
    seen: Counter[str] = Counter(earlier or {})
    ids = []
    for message in owed:
        seen[message["kind"]] += 1
        count = seen[message["kind"]]
        suffix = "" if count == 1 else f".{count}"
        ids.append(f"<{reference}.{message['kind']}{suffix}@{domain}>")
    return ids


def _pending(kind: OutboxKind, recipient: str, now: datetime, crisis: bool) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "recipient": recipient,
        "status": OutboxStatus.PENDING.value,
        "urgent": is_urgent(kind, crisis=crisis),
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
