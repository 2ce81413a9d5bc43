"""Which inquiries owe a reply by phone or email, and the task row that records it (pure).

Intake asks for a new inquiry; a corrected triage, a release from quarantine or an unlinked
duplicate asks again for a stored one. The acknowledgement's wording asks too, so that what
the visitor is promised is what the queue holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inquiry.callbacks.models import Channel, TaskStatus
from inquiry.callbacks.schedule import calendar_for
from inquiry.config import Settings
from inquiry.triage.taxonomy import PRIORITY_RANK, Priority, Topic

# Always followed up: by phone when there is a number, by email otherwise.
ALWAYS_FOLLOWED = frozenset({Topic.CRISIS, Topic.CLINICAL})
# Followed up in the channel the visitor preferred.
IN_PREFERRED_CHANNEL = frozenset(
    {Topic.NEW_PATIENT, Topic.APPOINTMENT, Topic.BILLING, Topic.REFERRAL}
)


def channel_owed(
    *, phone: str | None, email: str | None, prefers_phone: bool, topic: Topic, quarantined: bool
) -> Channel | None:
    """The channel of the task an inquiry owes, or None when nobody needs to follow it up.

    Crisis and clinical: phone when there is a number, else email. New patient, appointment,
    billing, referral: the visitor's preferred channel. General: only a call they asked for.
    """
    if quarantined:
        return None
    if topic in ALWAYS_FOLLOWED:
        return Channel.PHONE if phone else Channel.EMAIL if email else None
    if topic in IN_PREFERRED_CHANNEL:
        if phone and (prefers_phone or not email):
            return Channel.PHONE
        return Channel.EMAIL if email else None
    if topic is Topic.GENERAL and prefers_phone and phone:
        return Channel.PHONE
    return None


def ranking(priority: Priority) -> dict[str, Any]:
    """The priority columns the queue sorts on."""
    return {
        "priority": priority.value,
        "priority_rank": PRIORITY_RANK[priority],
        "queue_band": 0 if priority is Priority.URGENT else 1,
        "on_call": priority is Priority.URGENT,
    }


def task_row(
    *,
    channel: Channel = Channel.PHONE,
    phone: str | None,
    email: str | None = None,
    name: str,
    language: str,
    callback_window: str,
    voicemail_ok: bool,
    priority: Priority,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Columns of a new open task (without inquiry_id)."""
    if channel is Channel.PHONE and not phone:
        raise ValueError("a phone task needs a phone number")
    if channel is Channel.EMAIL and not email:
        raise ValueError("an email task needs an email address")
    due = calendar_for(settings).due_at(priority, now)
    return {
        "channel": channel.value,
        "phone": phone,
        "email": email,
        "name": name,
        "language": language,
        "callback_window": callback_window,
        "voicemail_ok": voicemail_ok,
        **ranking(priority),
        "status": TaskStatus.OPEN.value,
        "created_at": now,
        "due_at": due,
        "first_due_at": due,
        "next_attempt_at": now,
        "attempts": 0,
        "counted_attempts": 0,
        "extra_attempts": 0,
    }


def task_owed(
    *,
    phone: str | None,
    email: str | None,
    prefers_phone: bool,
    name: str,
    language: str,
    callback_window: str,
    voicemail_ok: bool,
    topic: Topic,
    priority: Priority,
    quarantined: bool,
    now: datetime,
    settings: Settings,
) -> dict[str, Any] | None:
    """Columns of the task an inquiry owes (without inquiry_id), or None when none is owed."""
    channel = channel_owed(
        phone=phone, email=email, prefers_phone=prefers_phone, topic=topic, quarantined=quarantined
    )
    if channel is None:
        return None
    return task_row(
        channel=channel,
        phone=phone,
        email=email,
        name=name,
        language=language,
        callback_window=callback_window,
        voicemail_ok=voicemail_ok,
        priority=priority,
        now=now,
        settings=settings,
    )
