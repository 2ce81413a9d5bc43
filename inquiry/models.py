"""Database tables that several parts use (callbacks and staff keep theirs in their own models).

The schema itself is owned by the Alembic migrations in inquiry/migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Ids are INTEGER columns: 32 bits on PostgreSQL.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes from timezone-aware columns: they are UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


class InquiryStatus(StrEnum):
    """Where an inquiry is on its way to an end (inquiry.lifecycle says how it moves)."""

    NEW = "new"  # nobody has acted on it yet
    IN_PROGRESS = "in_progress"  # someone is working it
    WAITING = "waiting"  # on the visitor, until a date (waiting_until)
    CLOSED = "closed"  # for a CloseReason


class CloseReason(StrEnum):
    RESOLVED = "resolved"
    UNREACHABLE = "unreachable"
    DUPLICATE = "duplicate"
    SPAM = "spam"  # quarantined (honeypot or triage) or closed as spam by staff: never answered
    WITHDRAWN = "withdrawn"
    NO_ACTION_NEEDED = "no_action_needed"


# Literal SQL on purpose, as the partial indexes below are written: SQLite uses a partial
# index only for a query that repeats its WHERE clause word for word.
QUARANTINED_SQL = "close_reason = 'spam'"
WORKED_SQL = "status IN ('in_progress', 'waiting')"
WAITING_SQL = "status = 'waiting'"


class OutboxKind(StrEnum):
    ADMIN_NOTIFICATION = "admin_notification"
    VISITOR_ACKNOWLEDGEMENT = "visitor_acknowledgement"
    URGENT_ALERT = "urgent_alert"
    URGENT_WEBHOOK = "urgent_webhook"
    VISITOR_UNREACHABLE = "visitor_unreachable"
    # On call: an urgent call ran out of attempts and waits for an admin's decision.
    CALLBACK_DECISION = "callback_decision"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    # Never sent on purpose: an acknowledgement past the day's limit for its address.
    SKIPPED = "skipped"


class Inquiry(SQLModel, table=True):
    """Everything a visitor submitted, with its triage."""

    __tablename__ = "inquiry"
    # Partial: staff look for quarantined, crisis, worked (in progress or waiting), waiting
    # and assigned inquiries. An ordinary inquiry, as intake stores it, is in none of them:
    # writing it touches none (see migration 0003). The lists' indexes end in the list's
    # order (created_at, id): a page is read in order, however many rows match.
    __table_args__ = (
        sa.Index(
            "ix_inquiry_quarantined",
            "created_at",
            sqlite_where=sa.text(QUARANTINED_SQL),
            postgresql_where=sa.text(QUARANTINED_SQL),
        ),
        sa.Index(
            "ix_inquiry_crisis_at",
            "created_at",
            sqlite_where=sa.text("crisis"),
            postgresql_where=sa.text("crisis"),
        ),
        sa.Index(
            "ix_inquiry_worked",
            "status",
            "created_at",
            "id",
            sqlite_where=sa.text(WORKED_SQL),
            postgresql_where=sa.text(WORKED_SQL),
        ),
        sa.Index(
            "ix_inquiry_waiting_until",
            "waiting_until",
            sqlite_where=sa.text(WAITING_SQL),
            postgresql_where=sa.text(WAITING_SQL),
        ),
        sa.Index(
            "ix_inquiry_assignee",
            "assignee_id",
            "created_at",
            "id",
            sqlite_where=sa.text("assignee_id IS NOT NULL"),
            postgresql_where=sa.text("assignee_id IS NOT NULL"),
        ),
        # Inquiries by time received (and id: the lists' order), with their topic: the
        # dashboard counts a day's topics from the index alone (at 100,000, reading the rows
        # took SQLite 100 ms, this 14 ms).
        sa.Index("ix_inquiry_created_at_topic", "created_at", "id", "topic"),
        # The duplicates linked to an inquiry (few): partial, so intake writes no entry for
        # an ordinary inquiry.
        sa.Index(
            "ix_inquiry_duplicate_of",
            "duplicate_of",
            sqlite_where=sa.text("duplicate_of IS NOT NULL"),
            postgresql_where=sa.text("duplicate_of IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=16, sa_column_kwargs={"unique": True, "nullable": False})
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    status: str = Field(max_length=16)
    close_reason: str | None = Field(default=None, max_length=16)
    waiting_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    assignee_id: int | None = Field(default=None, foreign_key="staff.id")
    quarantine_reason: str | None = Field(default=None, max_length=32)
    # When retention or an erasure removed its contact details and message (inquiry.privacy).
    redacted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # The same person's earlier inquiry, still open when this one came: its task is this
    # one's too (inquiry.intake.duplicates).
    duplicate_of: int | None = Field(default=None, foreign_key="inquiry.id")

    name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=20)
    preferred_contact: str = Field(max_length=8)
    callback_window: str = Field(max_length=12)
    voicemail_ok: bool
    visitor_topic: str | None = Field(default=None, max_length=16)
    subject: str = Field(max_length=200)
    message: str = Field(sa_type=sa.Text)
    language: str = Field(max_length=2)
    consent: bool
    source: str = Field(max_length=8)  # "api" or "form"
    source_page: str | None = Field(default=None, max_length=500)
    form_subject: str | None = Field(default=None, max_length=200)

    topic: str = Field(max_length=16)
    priority: str = Field(max_length=8)
    crisis: bool
    triage_reasons: str = Field(sa_type=sa.Text)  # JSON list of the signals that decided it


class InquiryContactKey(SQLModel, table=True):
    """A key an inquiry is found by (inquiry.contacts): its email, phone, each name word."""

    __tablename__ = "inquiry_contact_key"
    # One B-tree on SQLite, keyed as searched: no rowid table beside it to write.
    __table_args__ = {"sqlite_with_rowid": False}

    key: str = Field(primary_key=True, max_length=260)
    inquiry_id: int = Field(primary_key=True, foreign_key="inquiry.id")


class OutboxMessage(SQLModel, table=True):
    """A message owed on an inquiry, written in the inquiry's transaction, sent by the worker."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.Index("ix_outbox_message_due", "status", "next_attempt_at"),
        # A Message-ID embeds its inquiry's unique reference, so this is as strict as a unique
        # message_id, and new rows land on the index's last page instead of a random one.
        sa.Index("uq_outbox_message_inquiry_message", "inquiry_id", "message_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id")
    kind: str = Field(max_length=32)
    recipient: str = Field(max_length=320)
    # A stable Message-ID, so a re-send after a crash is recognisable as the same message.
    message_id: str = Field(max_length=200)
    status: str = Field(max_length=16)
    # inquiry.outbox.is_urgent(): claimed before the rest.
    urgent: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # The database's time at which the worker's claim lapses, and the claim's own token: only
    # the claim that holds a row writes its result (inquiry.outbox.claims).
    claimed_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    claim_token: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class IdempotencyRecord(SQLModel, table=True):
    """The first answer given for an Idempotency-Key (API) or one-time form token."""

    __tablename__ = "idempotency_record"

    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    inquiry_id: int = Field(foreign_key="inquiry.id")
    status_code: int
    response_body: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


inquiry_table: sa.Table = Inquiry.__table__  # type: ignore[attr-defined]
outbox_table: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
contact_key_table: sa.Table = InquiryContactKey.__table__  # type: ignore[attr-defined]


# The outbox rows a claim may take, as the claim index and the claim itself both write it.
OUTBOX_CLAIMABLE = "status IN ('pending', 'sending')"
# The claim's order over the rows it may take, so a claim reads a batch's worth of index
# entries instead of sorting the whole backlog (PostgreSQL, a million rows of which 200,000
# due: 2 ms a claim instead of 155 ms). SQLite uses it once it has statistics, which the
# worker's housekeeping gathers (refresh_sqlite_statistics); until then it sorts the due rows.
# (Defined here, not in __table_args__: DESC needs the column.)
sa.Index(
    "ix_outbox_message_claim",
    outbox_table.c.urgent.desc(),
    outbox_table.c.next_attempt_at,
    outbox_table.c.id,
    sqlite_where=sa.text(OUTBOX_CLAIMABLE),
    postgresql_where=sa.text(OUTBOX_CLAIMABLE),
)
idempotency_table: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]


# Staff accounts, their tokens and the audit log: every staff route authenticates and audits.


class StaffRole(StrEnum):
    AGENT = "agent"  # works the callback queue, reads inquiries
    ADMIN = "admin"  # also manages staff, reads the audit log, exports


class TokenKind(StrEnum):
    API = "api"  # minted on the command line or by an admin; lives until revoked
    SESSION = "session"  # minted by signing in; expires


class Staff(SQLModel, table=True):
    """A member of the clinic's team who may use the staff API."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True, "nullable": False})
    name: str = Field(default="", max_length=120)
    role: str = Field(max_length=8)
    password_hash: str | None = Field(default=None, max_length=200)
    active: bool = True
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    last_login_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Two-factor sign-in (RFC 6238): the confirmed secret, one being enrolled, and the last
    # time step accepted (a code is good once). The server must read the secret to check a
    # code, so it is kept as it is, like the rest of what this database protects.
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_pending_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    totp_last_counter: int | None = Field(default=None, sa_type=sa.BigInteger)
    # The staff console's language: en or fr.
    language: str = Field(default="en", max_length=2, sa_column_kwargs={"server_default": "en"})


class ApiToken(SQLModel, table=True):
    """A bearer token: only its SHA-256 is kept; the prefix identifies it in listings."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    kind: str = Field(max_length=8)
    label: str = Field(default="", max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True, "nullable": False})
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # A session that passed two-factor sign-in (API tokens are exempt from it).
    second_factor: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class AuditEntry(SQLModel, table=True):
    """Who read or changed what, when, from where. `detail` is small JSON, never a message body."""

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_target", "target_type", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    action: str = Field(max_length=40, index=True)
    target_type: str | None = Field(default=None, max_length=20)
    target_id: str | None = Field(default=None, max_length=40)
    client_ip: str = Field(max_length=64)
    detail: str = Field(default="{}", sa_type=sa.Text)


staff_table: sa.Table = Staff.__table__  # type: ignore[attr-defined]
token_table: sa.Table = ApiToken.__table__  # type: ignore[attr-defined]
audit_table: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
