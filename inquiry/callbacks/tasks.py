"""Which inquiries owe a phone call, and the task row that records it (pure).

Intake asks for a new inquiry; a corrected triage asks again for a stored one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inquiry.callbacks.models import TaskStatus
from inquiry.callbacks.schedule import calendar_for
from inquiry.config import Settings
from inquiry.triage.taxonomy import PRIORITY_RANK, Priority, Topic

# A phone number on these is always called back, whatever the visitor preferred.
ALWAYS_CALLED = frozenset({Topic.CRISIS, Topic.CLINICAL})


def owes_call(*, phone: str | None, prefers_phone: bool, topic: Topic, quarantined: bool) -> bool:
    """A call is owed when the visitor asked for one, or on crisis and clinical topics."""
    if quarantined or phone is None:
        return False
    return prefers_phone or topic in ALWAYS_CALLED


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
    phone: str,
    name: str,
    language: str,
    callback_window: str,
    voicemail_ok: bool,
    priority: Priority,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Columns of a new open task (without inquiry_id)."""
    return {
        "phone": phone,
        "name": name,
        "language": language,
        "callback_window": callback_window,
        "voicemail_ok": voicemail_ok,
        **ranking(priority),
        "status": TaskStatus.OPEN.value,
        "created_at": now,
        "due_at": calendar_for(settings).due_at(priority, now),
        "next_attempt_at": now,
        "attempts": 0,
    }


def task_owed(
    *,
    phone: str | None,
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
    """Columns of the task an inquiry owes (without inquiry_id), or None when no call is owed."""
    if not owes_call(
        phone=phone, prefers_phone=prefers_phone, topic=topic, quarantined=quarantined
    ):
        return None
    assert phone is not None
    return task_row(
        phone=phone,
        name=name,
        language=language,
        callback_window=callback_window,
        voicemail_ok=voicemail_ok,
        priority=priority,
        now=now,
        settings=settings,
    )
