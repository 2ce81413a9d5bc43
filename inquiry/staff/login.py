"""Signing in: the password, then the second factor where the account has one, then a session.

Throttled (throttle.py) and capped (PasswordChecks) at each step. The steps are separate so
that a sign-in may take one request (the API: email, password and code together) or two (the
staff console: a page for the password, then one for the code, carrying the account between
them in a signed ticket); `sign_in` is the one-request form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.audit import Caller, record
from inquiry.config import Settings
from inquiry.errors import InvalidCredentials, InvalidTwoFactorCode, TwoFactorRequired
from inquiry.models import Staff, TokenKind
from inquiry.staff import passwords, two_factor
from inquiry.staff.passwords import PasswordChecks
from inquiry.staff.service import MintedToken, StaffService
from inquiry.staff.throttle import LoginThrottle
from inquiry.staff.two_factor import SecondFactor, TwoFactor


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session, and whether the account must still enrol a second factor before the
    session may do anything but that (INQUIRY_STAFF_REQUIRE_2FA)."""

    token: MintedToken
    staff: Staff
    enrolment_required: bool


async def check_password(
    session: AsyncSession,
    settings: Settings,
    throttle: LoginThrottle,
    checks: PasswordChecks,
    caller: Caller,
    *,
    email: str,
    password: str,
) -> Staff | None:
    """Step one: the account with this email and password; None (and an audit entry) if not."""
    email = email.strip().lower()
    await throttle.check(email, caller.client_ip)
    staff = await StaffService(session, settings, caller).find(email)
    # End the read before the slow hash: on SQLite every transaction holds the write lock,
    # and intake must not wait on a password check (objects survive: expire_on_commit=False).
    await session.commit()
    # Verified even for unknown emails: a miss must not answer faster than a wrong password.
    matches = await checks.verify(staff.password_hash if staff else None, password)
    if staff is None or not staff.active or not matches:
        await throttle.failed(email, caller.client_ip)
        record(session, caller, "session.failed", ("staff", staff.id if staff else None))
        return None
    assert staff.password_hash is not None
    if passwords.needs_rehash(staff.password_hash):
        staff.password_hash = await checks.hash(password)
    return staff


async def check_second_factor(
    session: AsyncSession,
    settings: Settings,
    throttle: LoginThrottle,
    caller: Caller,
    staff: Staff,
    code: str,
) -> SecondFactor | None:
    """Step two, for an account with a second factor: what the code proves, or None (counted
    as a failed sign-in, and audited)."""
    await throttle.check(staff.email, caller.client_ip)
    passed = await TwoFactor(session, settings, caller).check(staff, code)
    if passed is None:
        await throttle.failed(staff.email, caller.client_ip)
        record(session, caller, "session.failed", ("staff", staff.id), step="second_factor")
    return passed


async def open_session(
    session: AsyncSession,
    settings: Settings,
    throttle: LoginThrottle,
    caller: Caller,
    staff: Staff,
    *,
    second_factor: SecondFactor | None,
) -> SignedIn:
    """The last step: a session token for an account that passed what it had to."""
    await throttle.succeeded(staff.email, caller.client_ip)
    staff.last_login_at = caller.now
    signed_in = Caller(staff=staff, client_ip=caller.client_ip, now=caller.now)
    minted = await StaffService(session, settings, signed_in).mint_token(
        staff,
        kind=TokenKind.SESSION,
        label="sign-in",
        lifetime=timedelta(hours=settings.staff_session_hours),
        second_factor=second_factor,
    )
    return SignedIn(
        token=minted,
        staff=staff,
        enrolment_required=second_factor is None and two_factor.required(settings, staff),
    )


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    throttle: LoginThrottle,
    checks: PasswordChecks,
    caller: Caller,
    *,
    email: str,
    password: str,
    code: str | None,
) -> SignedIn:
    """All steps in one: raises InvalidCredentials, TwoFactorRequired (the account has a
    second factor and no code came) or InvalidTwoFactorCode; a failure's audit entry is in
    the session, for the caller to commit."""
    staff = await check_password(
        session, settings, throttle, checks, caller, email=email, password=password
    )
    if staff is None:
        raise InvalidCredentials()
    passed = None
    if two_factor.enabled(staff):
        if not code:
            raise TwoFactorRequired()
        passed = await check_second_factor(session, settings, throttle, caller, staff, code)
        if passed is None:
            raise InvalidTwoFactorCode()
    return await open_session(session, settings, throttle, caller, staff, second_factor=passed)
