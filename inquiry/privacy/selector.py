"""Whom an access or erasure request is about: an email address, a phone number or a reference,
each read the way intake stored it (inquiry.contacts), so that "(416) 555-0199" finds the
inquiries stored as +14165550199."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.contacts import NotAContact, email_address, email_key, phone_e164, phone_key
from inquiry.errors import InquiryError
from inquiry.models import contact_key_table, inquiry_table
from inquiry.staff.search import reference_in


class SelectorKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    REFERENCE = "reference"


class NotASelector(InquiryError):
    status_code = 422
    code = "invalid_selector"
    message = "Give an email address, a phone number or an inquiry reference."


@dataclass(frozen=True, slots=True)
class Selector:
    """A person, by one of the details their inquiries were stored with (in stored form)."""

    kind: SelectorKind
    value: str

    @classmethod
    def parse(cls, kind: SelectorKind, written: str) -> Selector:
        """The selector as a person wrote it, in stored form; NotASelector if it is none."""
        try:
            if kind is SelectorKind.EMAIL:
                return cls(kind, email_address(written.strip()))
            if kind is SelectorKind.PHONE:
                return cls(kind, phone_e164(written))
        except NotAContact as error:
            raise NotASelector(f"{error}.") from None
        reference = reference_in(written)
        if reference is None:
            raise NotASelector(f"{written!r} is not an inquiry reference (INQ-XXXXXX).")
        return cls(kind, reference)

    def condition(self) -> sa.ColumnElement[bool]:
        """The inquiries this selector names."""
        # Not inquiry.staff.search.matching, though both read the same contact keys: search
        # guesses what was typed, reads a malformed address as written and finds names by
        # their words. An export or an erasure must reach only the inquiries stored with this
        # exact detail, of the kind the admin chose, so a detail that is not one was refused
        # in parse() and a name is never a selector.
        if self.kind is SelectorKind.REFERENCE:
            return inquiry_table.c.reference == self.value
        key = email_key(self.value) if self.kind is SelectorKind.EMAIL else phone_key(self.value)
        keyed = sa.select(contact_key_table.c.inquiry_id).where(contact_key_table.c.key == key)
        return inquiry_table.c.id.in_(keyed)


async def inquiry_ids(session: AsyncSession, selector: Selector) -> list[int]:
    """The ids of the inquiries the selector names, oldest first."""
    query = sa.select(inquiry_table.c.id).where(selector.condition()).order_by(inquiry_table.c.id)
    return list(await session.scalars(query))
