"""Request and response shapes of the staff API (accounts, tokens, inquiries, audit)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from inquiry.lifecycle.models import StatusChange
from inquiry.models import (
    ApiToken,
    AuditEntry,
    CloseReason,
    Inquiry,
    InquiryStatus,
    Staff,
    StaffRole,
    as_utc,
    as_utc_or_none,
)
from inquiry.staff.inquiries import InquiryView
from inquiry.staff.models import InquiryNote, TriageOverride
from inquiry.staff.service import normalize_email
from inquiry.triage.taxonomy import Priority, Topic

StaffEmail = Annotated[str, StringConstraints(max_length=254), AfterValidator(normalize_email)]
Password = Annotated[str, StringConstraints(max_length=1024)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]


Code = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
    password: Password
    # The authenticator app's six digits, or a recovery code: needed once the account has
    # two-factor sign-in.
    totp_code: Code | None = None


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password


class StaffOut(BaseModel):
    id: int
    email: str
    name: str
    role: StaffRole
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    two_factor_enabled: bool

    @classmethod
    def of(cls, staff: Staff) -> StaffOut:
        assert staff.id is not None
        return cls(
            id=staff.id,
            email=staff.email,
            name=staff.name,
            role=StaffRole(staff.role),
            active=staff.active,
            created_at=as_utc(staff.created_at),
            last_login_at=as_utc_or_none(staff.last_login_at),
            two_factor_enabled=staff.totp_secret is not None,
        )


class TokenOut(BaseModel):
    """A token as listed: never the secret."""

    id: int
    staff_id: int
    kind: str
    label: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    second_factor: bool  # a session that passed two-factor sign-in

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        assert token.id is not None
        return cls(
            id=token.id,
            staff_id=token.staff_id,
            kind=token.kind,
            label=token.label,
            prefix=token.prefix,
            created_at=as_utc(token.created_at),
            expires_at=as_utc_or_none(token.expires_at),
            last_used_at=as_utc_or_none(token.last_used_at),
            revoked_at=as_utc_or_none(token.revoked_at),
            second_factor=token.second_factor,
        )


class NewTokenOut(BaseModel):
    """The secret is in this answer and nowhere else, ever."""

    token: str
    token_type: str = "bearer"  # noqa: S105 - the scheme's name, not a secret
    details: TokenOut
    staff: StaffOut
    # The session may only enrol a second factor (INQUIRY_STAFF_REQUIRE_2FA) until it does.
    two_factor_enrolment_required: bool = False


class TwoFactorEnrolmentOut(BaseModel):
    """The new secret for the authenticator app: scan the QR code, or type the secret."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class TwoFactorCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code


class RecoveryCodesOut(BaseModel):
    """Shown in this answer once: each signs in once in place of the app's code."""

    recovery_codes: list[str]


class StaffCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StaffEmail
    role: StaffRole
    name: Name = ""
    password: Password | None = None


class StaffUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: StaffRole | None = None
    active: bool | None = None
    name: Name | None = None
    password: Password | None = None


class TokenCreateIn(BaseModel):
    """Without either, the token expires after INQUIRY_STAFF_TOKEN_DAYS."""

    model_config = ConfigDict(extra="forbid")

    label: Label = ""
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = None
    no_expiry: bool = False  # lives until revoked: only when asked for

    @model_validator(mode="after")
    def _one_expiry(self) -> TokenCreateIn:
        if self.no_expiry and self.expires_in_days is not None:
            raise PydanticCustomError("expiry_conflict", "give expires_in_days or no_expiry")
        return self


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    staff_id: int | None
    action: str
    target_type: str | None
    target_id: str | None
    client_ip: str
    detail: dict[str, object]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        assert entry.id is not None
        return cls(
            id=entry.id,
            at=as_utc(entry.at),
            staff_id=entry.staff_id,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            client_ip=entry.client_ip,
            detail=json.loads(entry.detail),
        )


class InquirySummary(BaseModel):
    """An inquiry in a list: who, what about, how urgent, where it stands; no message body."""

    id: int
    reference: str
    created_at: datetime
    status: InquiryStatus
    close_reason: CloseReason | None
    waiting_until: datetime | None
    assignee_id: int | None
    topic: Topic
    priority: Priority
    crisis: bool
    name: str
    email: str | None
    phone: str | None
    preferred_contact: str
    language: str
    subject: str

    @classmethod
    def of(cls, inquiry: Inquiry) -> InquirySummary:
        assert inquiry.id is not None
        return cls(
            id=inquiry.id,
            reference=inquiry.reference,
            created_at=as_utc(inquiry.created_at),
            status=InquiryStatus(inquiry.status),
            close_reason=CloseReason(inquiry.close_reason) if inquiry.close_reason else None,
            waiting_until=as_utc_or_none(inquiry.waiting_until),
            assignee_id=inquiry.assignee_id,
            topic=Topic(inquiry.topic),
            priority=Priority(inquiry.priority),
            crisis=inquiry.crisis,
            name=inquiry.name,
            email=inquiry.email,
            phone=inquiry.phone,
            preferred_contact=inquiry.preferred_contact,
            language=inquiry.language,
            subject=inquiry.subject,
        )


class OverrideOut(BaseModel):
    at: datetime
    staff_id: int
    old_topic: str
    new_topic: str
    old_priority: str
    new_priority: str
    reason: str

    @classmethod
    def of(cls, row: TriageOverride) -> OverrideOut:
        return cls(
            at=as_utc(row.at),
            staff_id=row.staff_id,
            old_topic=row.old_topic,
            new_topic=row.new_topic,
            old_priority=row.old_priority,
            new_priority=row.new_priority,
            reason=row.reason,
        )


def author(staff: Staff | None) -> str | None:
    """How a staff member is shown beside what they did: their name, else their email."""
    return None if staff is None else staff.name or staff.email


class NoteOut(BaseModel):
    """An internal note: never sent to the visitor."""

    id: int
    at: datetime
    staff_id: int
    author: str
    text: str

    @classmethod
    def of(cls, note: InquiryNote, staff: Staff) -> NoteOut:
        assert note.id is not None
        return cls(
            id=note.id,
            at=as_utc(note.at),
            staff_id=note.staff_id,
            author=author(staff) or "",
            text=note.text,
        )


class StatusChangeOut(BaseModel):
    """One move of the status; `staff_id` and `author` are null when it moved by itself."""

    at: datetime
    staff_id: int | None
    author: str | None
    from_status: InquiryStatus
    to_status: InquiryStatus
    close_reason: CloseReason | None
    cause: str | None
    until: datetime | None
    note: str | None

    @classmethod
    def of(cls, change: StatusChange, staff: Staff | None) -> StatusChangeOut:
        return cls(
            at=as_utc(change.at),
            staff_id=change.staff_id,
            author=author(staff),
            from_status=InquiryStatus(change.from_status),
            to_status=InquiryStatus(change.to_status),
            close_reason=CloseReason(change.close_reason) if change.close_reason else None,
            cause=change.cause,
            until=as_utc_or_none(change.until),
            note=change.note,
        )


class InquiryDetail(InquirySummary):
    """Everything the visitor sent, the triage with its reasons, overrides, the callback, and
    what staff did: notes (oldest first), the status history and the assignee."""

    message: str
    callback_window: str
    voicemail_ok: bool
    visitor_topic: str | None
    source: str
    source_page: str | None
    quarantine_reason: str | None
    triage_reasons: list[str]
    overrides: list[OverrideOut]
    callback_task_id: int | None
    callback_status: str | None
    assignee: str | None
    # The same person's open inquiry this one is linked to (its task answers both), and the
    # later ones linked to this one.
    duplicate_of: str | None
    duplicates: list[str]
    notes: list[NoteOut]
    history: list[StatusChangeOut]

    @classmethod
    def of_view(cls, view: InquiryView) -> InquiryDetail:
        inquiry = view.inquiry
        return cls(
            **InquirySummary.of(inquiry).model_dump(),
            message=inquiry.message,
            callback_window=inquiry.callback_window,
            voicemail_ok=inquiry.voicemail_ok,
            visitor_topic=inquiry.visitor_topic,
            source=inquiry.source,
            source_page=inquiry.source_page,
            quarantine_reason=inquiry.quarantine_reason,
            triage_reasons=json.loads(inquiry.triage_reasons),
            overrides=[OverrideOut.of(row) for row in view.overrides],
            callback_task_id=view.task.id if view.task else None,
            callback_status=view.task.status if view.task else None,
            assignee=author(view.assignee),
            duplicate_of=view.duplicate_of,
            duplicates=view.duplicates,
            notes=[NoteOut.of(note, staff) for note, staff in view.notes],
            history=[StatusChangeOut.of(change, staff) for change, staff in view.history],
        )


class InquiryPage(BaseModel):
    inquiries: list[InquirySummary]
    limit: int
    offset: int


class TriageOverrideIn(BaseModel):
    """A corrected topic and/or priority (a topic alone brings its usual priority)."""

    model_config = ConfigDict(extra="forbid")

    topic: Topic | None = None
    priority: Priority | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _something_changes(self) -> TriageOverrideIn:
        if self.topic is None and self.priority is None:
            raise PydanticCustomError("override_empty", "give a topic, a priority, or both")
        return self


Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class StatusIn(BaseModel):
    """A status staff choose: closing needs a reason, waiting a date (after today, in the
    clinic's time zone; the wait ends when the clinic opens that day). `new` is never
    chosen: an inquiry leaves quarantine through not-spam."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["in_progress", "waiting", "closed"]
    reason: Annotated[CloseReason | None, Field(validate_default=True)] = None
    until: Annotated[date | None, Field(validate_default=True)] = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)] = ""

    @field_validator("reason")
    @classmethod
    def _reason_when_closing(cls, value: CloseReason | None, info: ValidationInfo) -> object:
        return _given_when(value, info.data.get("status") == "closed", "closing")

    @field_validator("until")
    @classmethod
    def _date_when_waiting(cls, value: date | None, info: ValidationInfo) -> object:
        return _given_when(value, info.data.get("status") == "waiting", "waiting")


def _given_when(value: object, needed: bool, status: str) -> object:
    if needed and value is None:
        raise PydanticCustomError("missing", "{status} needs it", {"status": status})
    if not needed and value is not None:
        raise PydanticCustomError("not_allowed", "only {status} has it", {"status": status})
    return value


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Note


class AssignIn(BaseModel):
    """The staff member to assign, or null for nobody."""

    model_config = ConfigDict(extra="forbid")

    staff_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None


class NotSpamIn(BaseModel):
    """Optionally, the topic staff give the released inquiry (the machine triages it again
    otherwise)."""

    model_config = ConfigDict(extra="forbid")

    topic: Topic | None = None

    @model_validator(mode="after")
    def _not_spam(self) -> NotSpamIn:
        if self.topic is Topic.SPAM:
            raise PydanticCustomError("invalid_choice", "a released inquiry is not spam")
        return self
