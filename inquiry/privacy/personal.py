"""What is personal data, and where: every column that holds something a visitor wrote or
could be identified by, what it is left holding once removed, and how its rows belong to an
inquiry. Retention and erasure both remove through here, so they cannot disagree, and a test
walks every table so that a new column is classified before it can be forgotten.

Text columns not listed in PERSONAL are in KEPT, each with why it may stay.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry import outbox
from inquiry.callbacks.models import attempt_table, task_table
from inquiry.lifecycle.models import status_change_table
from inquiry.models import contact_key_table, idempotency_table, inquiry_table
from inquiry.privacy.models import erasure_table
from inquiry.staff.models import note_table, override_table

_CHUNK = 500  # ids per statement: well under both databases' limits on parameters


@dataclass(frozen=True, slots=True)
class Personal:
    """A table's personal columns and what each holds once removed."""

    table: sa.Table
    columns: Mapping[str, Any]
    # The column that names the row's inquiry; None: through its callback task.
    inquiry_column: str | None = "inquiry_id"

    def of(self, inquiry_ids: Sequence[int]) -> sa.ColumnElement[bool]:
        """This table's rows that belong to these inquiries."""
        if self.inquiry_column is None:
            tasks = sa.select(task_table.c.id).where(task_table.c.inquiry_id.in_(inquiry_ids))
            return self.table.c.task_id.in_(tasks)
        return self.table.c[self.inquiry_column].in_(inquiry_ids)


# Blanked in place: the row stays (its dates, statuses and outcomes are the inquiry's history).
PERSONAL: tuple[Personal, ...] = (
    Personal(
        inquiry_table,
        {
            "name": "",
            "email": None,
            "phone": None,
            "subject": "",
            "message": "",
            "source_page": None,
            "form_subject": None,
            "triage_reasons": "[]",  # quotes the phrases of the message that decided it
        },
        inquiry_column="id",
    ),
    Personal(task_table, {"phone": None, "email": None, "name": "", "close_reason": None}),
    Personal(attempt_table, {"note": ""}, inquiry_column=None),
    Personal(note_table, {"text": ""}),
    Personal(status_change_table, {"note": None}),
    Personal(override_table, {"reason": ""}),
)

# Tables whose owner removes their personal columns and deletes their rows (by table name).
BY_THEIR_OWNER: dict[str, Mapping[str, Any]] = {outbox.TABLE: outbox.PERSONAL_COLUMNS}

# Deleted outright: rows that exist only to find or replay what a visitor sent.
DELETED: tuple[Personal, ...] = (
    Personal(contact_key_table, {"key": None}),
    Personal(idempotency_table, {"key": None, "request_hash": None, "response_body": None}),
)

# Every row that belongs to an inquiry, children first: what deleting an inquiry deletes.
BELONGING: tuple[Personal, ...] = (
    Personal(attempt_table, {}, inquiry_column=None),
    Personal(task_table, {}),
    Personal(note_table, {}),
    Personal(override_table, {}),
    Personal(status_change_table, {}),
    Personal(contact_key_table, {}),
    Personal(idempotency_table, {}),
    Personal(erasure_table, {}),
)

# Text columns that stay, and why.
KEPT: dict[str, str] = {
    "inquiry.reference": "the reference: what the audit trail and the visitor's receipt name",
    "inquiry.status": "a fixed word",
    "inquiry.close_reason": "a fixed word",
    "inquiry.quarantine_reason": "a fixed word (honeypot, triage)",
    "inquiry.preferred_contact": "email or phone",
    "inquiry.callback_window": "a fixed word",
    "inquiry.visitor_topic": "a fixed word",
    "inquiry.language": "en or fr",
    "inquiry.source": "api or form",
    "inquiry.topic": "a fixed word",
    "inquiry.priority": "a fixed word",
    "callback_task.language": "en or fr",
    "callback_task.callback_window": "a fixed word",
    "callback_task.priority": "a fixed word",
    "callback_task.status": "a fixed word",
    "callback_attempt.outcome": "a fixed word",
    "inquiry_status_change.from_status": "a fixed word",
    "inquiry_status_change.to_status": "a fixed word",
    "inquiry_status_change.close_reason": "a fixed word",
    "inquiry_status_change.cause": "fixed words naming what moved it (a claim, a date)",
    "triage_override.old_topic": "a fixed word",
    "triage_override.new_topic": "a fixed word",
    "triage_override.old_priority": "a fixed word",
    "triage_override.new_priority": "a fixed word",
    "outbox_message.kind": "a fixed word",
    "outbox_message.message_id": "the reference and the kind of message",
    "outbox_message.status": "a fixed word",
    "audit_entry.action": "the audit trail stays",
    "audit_entry.target_type": "the audit trail stays",
    "audit_entry.target_id": "an id",
    "audit_entry.client_ip": "a staff member's address",
    "audit_entry.detail": "the audit trail stays; it records a search by its kind, never its words",
    "inquiry_erasure.erased_by": "the tombstone: who erased",
    "inquiry_erasure.reason": "the tombstone: why",
    "staff.email": "staff accounts, not visitors",
    "staff.name": "staff accounts, not visitors",
    "staff.role": "staff accounts, not visitors",
    "staff.password_hash": "staff accounts, not visitors",
    "staff.totp_secret": "staff accounts, not visitors",
    "staff.totp_pending_secret": "staff accounts, not visitors",
    "api_token.kind": "staff credentials (expired ones are purged)",
    "api_token.label": "staff credentials",
    "api_token.prefix": "staff credentials",
    "api_token.token_hash": "staff credentials",
    "staff_recovery_code.code_hash": "staff credentials",
}


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


async def remove(session: AsyncSession, inquiry_ids: Sequence[int], *, at: datetime) -> None:
    """Remove the personal data of these inquiries from every table that holds it; the
    inquiries keep their reference, topic, dates and history, marked redacted `at`."""
    for ids in _chunks(inquiry_ids):
        await outbox.forget_recipients(session, ids)
        for entry in PERSONAL:
            values = dict(entry.columns)
            if entry.table is inquiry_table:
                values["redacted_at"] = at
            await session.execute(sa.update(entry.table).where(entry.of(ids)).values(**values))
        for entry in DELETED:
            await session.execute(sa.delete(entry.table).where(entry.of(ids)))


# Columns of the inquiry table that point at another inquiry: a later inquiry linked to one
# that is deleted is unlinked first (it keeps its own details and history).
INQUIRY_LINKS: tuple[str, ...] = ("duplicate_of",)


async def delete(session: AsyncSession, inquiry_ids: Sequence[int]) -> None:
    """Delete these inquiries and every row that belongs to them (the audit log stays)."""
    for ids in _chunks(inquiry_ids):
        await outbox.delete_for(session, ids)
        for entry in BELONGING:
            await session.execute(sa.delete(entry.table).where(entry.of(ids)))
        for link in INQUIRY_LINKS:
            column = inquiry_table.c[link]
            await session.execute(
                sa.update(inquiry_table).where(column.in_(ids)).values({link: None})
            )
        await session.execute(sa.delete(inquiry_table).where(inquiry_table.c.id.in_(ids)))
