"""Two-factor sign-in: a TOTP authenticator (RFC 6238) and one-time recovery codes.

Enrolment shows a secret (as text, an otpauth:// URI and a QR code) that counts only once a
code from the app confirms it; confirming gives ten recovery codes, shown that once and kept
as SHA-256 hashes. The API (/me/two-factor, sign-in) and the staff console call these same
methods. They take a session and flush; never commit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

import pyotp
import segno
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from inquiry.audit import Caller, record
from inquiry.auth import second_factor_required
from inquiry.config import Settings
from inquiry.models import ApiToken, Staff, TokenKind, staff_table, token_table
from inquiry.staff.models import RecoveryCode, recovery_code_table

RECOVERY_CODES = 10
# A phone whose clock is off by up to one 30-second step still signs in.
_DRIFT_STEPS = 1


class SecondFactor(StrEnum):
    """What passed the second step of a sign-in."""

    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What the authenticator app needs, in the three forms a person may use."""

    secret: str  # base32, to type in by hand
    uri: str  # otpauth://totp/…
    qr_svg: str  # the URI as a QR code, an inline <svg>


# Whose sessions must pass it is authentication's rule (inquiry.auth), applied on every route.
required = second_factor_required


def enabled(staff: Staff) -> bool:
    return staff.totp_secret is not None


def recovery_hash(code: str) -> str:
    return hashlib.sha256(_compact(code).encode()).hexdigest()


class TwoFactor:
    """Enrol, check and reset an account's second factor; every change is audited."""

    def __init__(self, session: AsyncSession, settings: Settings, caller: Caller) -> None:
        self._session = session
        self._settings = settings
        self._caller = caller

    async def start(self, staff: Staff) -> Enrolment:
        """A new secret for the app; the account's current one (if any) holds until confirmed."""
        secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
        staff.totp_pending_secret = secret
        await self._session.flush()
        record(self._session, self._caller, "two_factor.enrolment_start", ("staff", staff.id))
        return enrolment_of(secret, staff, self._settings)

    def pending(self, staff: Staff) -> Enrolment | None:
        """The enrolment started and not yet confirmed, shown again after a mistyped code."""
        secret = staff.totp_pending_secret
        return enrolment_of(secret, staff, self._settings) if secret else None

    async def confirm(
        self, staff: Staff, code: str, *, session_token: ApiToken
    ) -> list[str] | None:
        """Make the enrolled secret the account's, given a code from the app.

        Returns the recovery codes (the only time they are shown), or None for a wrong code.
        The confirming session counts as having passed the second factor; the account's
        other sessions end (they did not), its API tokens stay.
        """
        secret = staff.totp_pending_secret
        counter = _matching_counter(secret, code, self._caller) if secret else None
        if secret is None or counter is None:
            record(self._session, self._caller, "two_factor.confirm_failed", ("staff", staff.id))
            return None
        staff.totp_secret = secret
        staff.totp_pending_secret = None
        staff.totp_enabled_at = self._caller.now
        staff.totp_last_counter = counter
        session_token.second_factor = True
        await self._end_other_sessions(staff, keep=session_token)
        codes = await self._replace_recovery_codes(staff)
        record(self._session, self._caller, "two_factor.enable", ("staff", staff.id))
        return codes

    async def check(self, staff: Staff, code: str) -> SecondFactor | None:
        """What this code proves for the account: its app's current code (each good once), or
        one of its unused recovery codes (used up now); None for anything else."""
        if staff.totp_secret is None:
            return None
        compact = _compact(code)
        if compact.isdigit():
            counter = _matching_counter(staff.totp_secret, compact, self._caller)
            if counter is not None and await self._take_counter(staff, counter):
                return SecondFactor.TOTP
            return None
        if await self._use_recovery_code(staff, compact):
            return SecondFactor.RECOVERY_CODE
        return None

    async def new_recovery_codes(self, staff: Staff) -> list[str]:
        """Ten fresh recovery codes; the old ones stop working."""
        codes = await self._replace_recovery_codes(staff)
        record(self._session, self._caller, "two_factor.recovery_codes", ("staff", staff.id))
        return codes

    async def reset(self, staff: Staff) -> None:
        """Remove the account's second factor (a lost phone), ending its sessions.

        Where two-factor sign-in is required, the next sign-in must enrol again.
        """
        staff.totp_secret = None
        staff.totp_pending_secret = None
        staff.totp_enabled_at = None
        staff.totp_last_counter = None
        await self._session.execute(
            sa.delete(recovery_code_table).where(recovery_code_table.c.staff_id == staff.id)
        )
        await self._end_other_sessions(staff, keep=None)
        record(self._session, self._caller, "two_factor.reset", ("staff", staff.id))

    async def remaining_recovery_codes(self, staff: Staff) -> int:
        table = recovery_code_table
        found = await self._session.scalar(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.staff_id == staff.id, table.c.used_at.is_(None))
        )
        return int(found or 0)

    async def _take_counter(self, staff: Staff, counter: int) -> bool:
        """Record the time step as used; False when it (or a later one) already was.

        One statement, so that two sign-ins racing with the same code cannot both win.
        """
        last = staff_table.c.totp_last_counter
        result = await self._session.execute(
            sa.update(staff_table)
            .where(staff_table.c.id == staff.id, sa.or_(last.is_(None), last < counter))
            .values(totp_last_counter=counter)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        set_committed_value(staff, "totp_last_counter", counter)
        return True

    async def _use_recovery_code(self, staff: Staff, compact: str) -> bool:
        table = recovery_code_table
        result = await self._session.execute(
            sa.update(table)
            .where(
                table.c.staff_id == staff.id,
                table.c.code_hash == hashlib.sha256(compact.encode()).hexdigest(),
                table.c.used_at.is_(None),
            )
            .values(used_at=self._caller.now)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        left = await self.remaining_recovery_codes(staff)
        record(
            self._session,
            self._caller,
            "two_factor.recovery_code_use",
            ("staff", staff.id),
            left=left,
        )
        return True

    async def _replace_recovery_codes(self, staff: Staff) -> list[str]:
        assert staff.id is not None
        await self._session.execute(
            sa.delete(recovery_code_table).where(recovery_code_table.c.staff_id == staff.id)
        )
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        self._session.add_all(
            RecoveryCode(
                staff_id=staff.id, code_hash=recovery_hash(code), created_at=self._caller.now
            )
            for code in codes
        )
        await self._session.flush()
        return codes

    async def _end_other_sessions(self, staff: Staff, *, keep: ApiToken | None) -> None:
        live = sa.and_(
            token_table.c.staff_id == staff.id,
            token_table.c.kind == TokenKind.SESSION.value,
            token_table.c.revoked_at.is_(None),
        )
        if keep is not None:
            live = sa.and_(live, token_table.c.id != keep.id)
        await self._session.execute(
            sa.update(token_table).where(live).values(revoked_at=self._caller.now)
        )


def enrolment_of(secret: str, staff: Staff, settings: Settings) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name=settings.clinic_name)
    qr_svg = segno.make(uri, error="m").svg_inline(
        scale=4, title="QR code to scan with your authenticator app"
    )
    return Enrolment(secret=secret, uri=uri, qr_svg=qr_svg)


def _compact(code: str) -> str:
    """A code as typed ("123 456", "ABCD-EFGH-…") reduced to what is compared."""
    return "".join(code.split()).replace("-", "").lower()


def _new_recovery_code() -> str:
    """Sixteen base32 characters (80 bits) in groups of four: too many to guess, even offline
    from its SHA-256."""
    raw = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _matching_counter(secret: str, code: str, caller: Caller) -> int | None:
    """The time step whose code this is, within the allowed drift; None if none."""
    compact = _compact(code)
    if len(compact) != 6 or not compact.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(caller.now)
    for counter in range(now - _DRIFT_STEPS, now + _DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(counter), compact):
            return counter
    return None
