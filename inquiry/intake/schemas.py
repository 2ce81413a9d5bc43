"""Request and response shapes of the public intake API, with every field rule."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from inquiry.config import CrisisResource
from inquiry.contacts import NotAContact, email_address, phone_e164
from inquiry.triage.taxonomy import Topic

# C0 and C1 control characters; multi-line fields may still carry tab and newlines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Bidirectional overrides, embeddings, isolates and marks make text read differently from
# what it is (in an email subject, in the staff list); zero-width characters hide text in
# plain sight. Neither belongs in a name or a subject.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


class ContactMethod(StrEnum):
    EMAIL = "email"
    PHONE = "phone"


class CallbackWindow(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    ANY = "any"


class VisitorTopic(StrEnum):
    NEW_PATIENT = Topic.NEW_PATIENT.value
    APPOINTMENT = Topic.APPOINTMENT.value
    CLINICAL = Topic.CLINICAL.value
    BILLING = Topic.BILLING.value
    REFERRAL = Topic.REFERRAL.value
    GENERAL = Topic.GENERAL.value


Language = Literal["en", "fr"]


def _single_line(value: str) -> str:
    # CR/LF in a name or subject is how header injection starts; refuse, don't strip.
    if _CONTROL.search(value):
        raise PydanticCustomError("control_characters", "must be a single line of text")
    return value


def _visible(value: str) -> str:
    if _INVISIBLE.search(value):
        raise PydanticCustomError(
            "invisible_characters", "contains invisible or direction-changing characters"
        )
    return value


def _multi_line(value: str) -> str:
    if _CONTROL_EXCEPT_NEWLINES.search(value):
        raise PydanticCustomError("control_characters", "contains control characters")
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _blank_to_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _email(value: str) -> str:
    try:
        return email_address(value)
    except NotAContact as error:
        raise PydanticCustomError("invalid_email", "is not a valid email address") from error


def _phone(value: str) -> str:
    try:
        return phone_e164(value)
    except NotAContact as error:
        raise PydanticCustomError("invalid_phone", "is not a valid phone number") from error


def _consent_given(value: bool) -> bool:
    if value is not True:
        raise PydanticCustomError("consent_required", "consent is required")
    return value


SingleLine = Annotated[str, AfterValidator(_single_line)]
VisibleLine = Annotated[str, AfterValidator(_single_line), AfterValidator(_visible)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Email = Annotated[
    Annotated[str, StringConstraints(max_length=254)] | None,
    BeforeValidator(_blank_to_none),
    AfterValidator(lambda v: None if v is None else _email(v)),
]
Phone = Annotated[
    Annotated[str, StringConstraints(max_length=32)] | None,
    BeforeValidator(_blank_to_none),
    AfterValidator(lambda v: None if v is None else _phone(v)),
]


class InquiryIn(BaseModel):
    """A contact form submission, from the site's script or the hosted form."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[Name, AfterValidator(_single_line), AfterValidator(_visible)]
    email: Email = None
    phone: Phone = None
    preferred_contact: ContactMethod | None = None
    callback_window: CallbackWindow = CallbackWindow.ANY
    voicemail_ok: bool = False
    topic: Annotated[VisitorTopic | None, BeforeValidator(_blank_to_none)] = None
    subject: Annotated[VisibleLine, Field(max_length=200)] = ""
    message: Annotated[
        str, AfterValidator(_multi_line), StringConstraints(min_length=1, max_length=5000)
    ]
    language: Annotated[Language | None, BeforeValidator(_blank_to_none)] = None
    consent: Annotated[bool, AfterValidator(_consent_given)]
    # Honeypot: hidden from people, filled in by bots. Accepted, then quarantined.
    website: Annotated[str, Field(max_length=500)] = ""
    source_page: Annotated[
        Annotated[SingleLine, StringConstraints(max_length=500)] | None,
        BeforeValidator(_blank_to_none),
    ] = None
    # The embedding site's label for the admin email's subject (a plain form's `_subject`).
    form_subject: Annotated[
        Annotated[VisibleLine, StringConstraints(max_length=200)] | None,
        BeforeValidator(_blank_to_none),
    ] = None

    @model_validator(mode="after")
    def _reachable(self) -> InquiryIn:
        if self.preferred_contact is None and (self.email or self.phone):
            self.preferred_contact = ContactMethod.EMAIL if self.email else ContactMethod.PHONE
        for code, _field, message in contact_problems(
            self.email is not None, self.phone is not None, self.preferred_contact
        ):
            raise PydanticCustomError(code, message)
        return self


def contact_problems(
    has_email: bool, has_phone: bool, preferred: ContactMethod | None
) -> list[tuple[str, str, str]]:
    """What keeps the clinic from reaching the visitor: (code, field to fix, message).

    One rule for the model and for reports of every problem at once: a missing phone is
    reported under Phone, a missing email (or neither) under Email.
    """
    if preferred is ContactMethod.PHONE and not has_phone:
        return [("phone_required", "phone", "a phone number is needed for a call back")]
    if not has_email and not has_phone:
        return [("contact_required", "email", "give an email address or a phone number")]
    if preferred is ContactMethod.EMAIL and not has_email:
        return [("email_required", "email", "an email address is needed for a reply")]
    return []


def contact_errors(data: object, *prefix: str) -> list[dict[str, object]]:
    """The contact rules applied to raw input whose fields failed, as pydantic-shaped errors.

    The model's own check runs only once every field is valid; this lets one answer list
    "give an email or a phone" beside an empty name instead of after it is fixed.
    """
    if not isinstance(data, dict):
        return []

    def given(name: str) -> bool:
        value = data.get(name)
        return value is not None and (not isinstance(value, str) or bool(value.strip()))

    try:
        preferred = (
            ContactMethod(data.get("preferred_contact") or "")
            if given("preferred_contact")
            else None
        )
    except ValueError:
        preferred = None
    return [
        {"type": code, "loc": (*prefix, field), "msg": message, "input": None}
        for code, field, message in contact_problems(given("email"), given("phone"), preferred)
    ]


class InquiryAccepted(BaseModel):
    """What the visitor's browser gets back once the inquiry is safely stored."""

    reference: str
    received_at: datetime
    language: Language
    crisis: bool = False
    crisis_resources: list[CrisisResource] = Field(default_factory=list)
    message: str
