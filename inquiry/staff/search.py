"""Finding inquiries: by id or reference, by the list's filters, and by what a visitor says.

`q` is a reference, an email address, a phone number in any common writing, or words of a
name; each is looked up the way intake stored it (inquiry.contacts), through the contact
keys' index: "(416) 555-0199" finds +14165550199 and "helene" finds Hélène.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.contacts import (
    NotAContact,
    email_address,
    email_key,
    name_prefix_range,
    name_words,
    phone_e164,
    phone_key,
)
from inquiry.errors import NotFound
from inquiry.models import (
    QUARANTINED_SQL,
    WORKED_SQL,
    CloseReason,
    InquiryStatus,
    contact_key_table,
    inquiry_table,
)
from inquiry.triage.taxonomy import Priority, Topic

t = inquiry_table
k = contact_key_table

# As staff write a reference: INQ-7F3K9Q, inq 7f3k9q, INQ7F3K9Q.
_REFERENCE = re.compile(r"INQ[-\s]?([A-Z0-9]{6})", re.IGNORECASE)
_PHONE_CHARACTERS = re.compile(r"[\d\s()+.\-/]+")
_PHONE_DIGITS_MIN = 7
_ROW_ID_MAX = 2**31 - 1  # past it a number names no row (and the driver refuses it)
_WORKED = frozenset({InquiryStatus.IN_PROGRESS, InquiryStatus.WAITING})


def reference_in(text: str) -> str | None:
    """The reference written in `text` (as stored: upper case, with its dash), if it is one."""
    found = _REFERENCE.fullmatch(text.strip())
    return f"INQ-{found.group(1).upper()}" if found else None


async def inquiry_id_of(session: AsyncSession, key: str) -> int:
    """The id of the inquiry with this id or this reference; NotFound if there is none."""
    if key.isdigit():
        number = int(key)
        if 1 <= number <= _ROW_ID_MAX:
            found = await session.scalar(sa.select(t.c.id).where(t.c.id == number))
            if found is not None:
                return number
    reference = reference_in(key)
    if reference is not None:
        found = await session.scalar(sa.select(t.c.id).where(t.c.reference == reference))
        if found is not None:
            return int(found)
    raise NotFound("There is no inquiry with this id or reference.")


def search_kind(q: str) -> str:
    """What `q` is read as: a reference, an email address, a phone number, or a name."""
    text = q.strip()
    if reference_in(text) is not None:
        return "reference"
    if "@" in text:
        return "email"
    if _PHONE_CHARACTERS.fullmatch(text):
        return "phone"
    return "name"


def matching(q: str) -> sa.ColumnElement[bool]:
    """Inquiries that `q` names: by reference, email, phone, or the words of a name."""
    text = q.strip()
    kind = search_kind(text)
    if kind == "reference":
        return t.c.reference == reference_in(text)
    if kind == "email":
        try:
            address = email_address(text)
        except NotAContact:
            address = text
        return _keyed(k.c.key == email_key(address))
    if kind == "phone":
        if sum(c.isdigit() for c in text) < _PHONE_DIGITS_MIN:
            return sa.false()
        try:
            return _keyed(k.c.key == phone_key(phone_e164(text)))
        except NotAContact:
            return sa.false()
    words = name_words(text)
    if not words:
        return sa.false()
    # Every word of the query begins a word of the name, in any order: "tremblay ma" finds
    # Marie Tremblay. The keys' sets are intersected before any inquiry is read: with
    # 100,000 inquiries, "marie tremblay" took 0.2-0.6 ms so, against 0.8-4 ms reading each
    # inquiry the first word found and testing it against the second (both databases).
    found = [sa.select(k.c.inquiry_id).where(_begins(word)) for word in words]
    return t.c.id.in_(found[0] if len(found) == 1 else sa.intersect(*found))


def _begins(word: str) -> sa.ColumnElement[bool]:
    low, high = name_prefix_range(word)
    return sa.and_(k.c.key >= low, k.c.key < high)


def _keyed(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return t.c.id.in_(sa.select(k.c.inquiry_id).where(condition))


@dataclass(frozen=True, slots=True)
class InquiryFilter:
    """The list's filters; every one given must hold."""

    statuses: tuple[InquiryStatus, ...] = ()
    reason: CloseReason | None = None
    assignee: int | None = None
    unassigned: bool = False
    topic: Topic | None = None
    priority: Priority | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    unredacted: bool = False  # only inquiries whose personal data is still held

    def apply(self, query: sa.Select[Any]) -> sa.Select[Any]:
        if self.statuses:
            if set(self.statuses) <= _WORKED:
                # Worded as the partial index is, so that SQLite uses it.
                query = query.where(sa.text(f"inquiry.{WORKED_SQL}"))
            query = query.where(t.c.status.in_([s.value for s in self.statuses]))
        if self.reason is CloseReason.SPAM:
            query = query.where(sa.text(f"inquiry.{QUARANTINED_SQL}"))
        elif self.reason is not None:
            query = query.where(t.c.close_reason == self.reason.value)
        if self.assignee is not None:
            query = query.where(t.c.assignee_id == self.assignee)
        if self.unassigned:
            query = query.where(t.c.assignee_id.is_(None))
        for column, value in ((t.c.topic, self.topic), (t.c.priority, self.priority)):
            if value is not None:
                query = query.where(column == value.value)
        if self.since is not None:
            query = query.where(t.c.created_at >= self.since)
        if self.until is not None:
            query = query.where(t.c.created_at < self.until)
        if self.q:
            query = query.where(matching(self.q))
        if self.unredacted:
            query = query.where(t.c.redacted_at.is_(None))
        return query

    def described(self) -> dict[str, Any]:
        """The filters as the audit log keeps them: a search by what it was, not whom it
        named (the inquiries it found are listed beside)."""
        described: dict[str, Any] = {}
        if self.statuses:
            described["status"] = [s.value for s in self.statuses]
        if self.unassigned:
            described["assignee"] = "none"
        for name in ("reason", "assignee", "topic", "priority", "since", "until"):
            value = getattr(self, name)
            if value is not None:
                described[name] = str(value)
        if self.q:
            described["q"] = search_kind(self.q)
        return described


async def references_of(session: AsyncSession, inquiry_ids: set[int]) -> dict[int, str]:
    """The references of these inquiries, by id (ids with no inquiry left out)."""
    if not inquiry_ids:
        return {}
    query = sa.select(t.c.id, t.c.reference).where(t.c.id.in_(sorted(inquiry_ids)))
    return {int(row.id): str(row.reference) for row in await session.execute(query)}
