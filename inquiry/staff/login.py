"""Signing in with email and password, throttled (see throttle.py) and capped (PasswordChecks)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.audit import Caller, record
from inquiry.config import Settings
from inquiry.models import TokenKind
from inquiry.staff import passwords
from inquiry.staff.passwords import PasswordChecks
from inquiry.staff.service import MintedToken, StaffService
from inquiry.staff.throttle import LoginThrottle


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    throttle: LoginThrottle,
    checks: PasswordChecks,
    caller: Caller,
    *,
    email: str,
    password: str,
) -> MintedToken | None:
    """A session token for the right password; None (and an audit entry) otherwise."""
    email = email.strip().lower()
    await throttle.check(email, caller.client_ip)
    accounts = StaffService(session, settings, caller)
    staff = await accounts.find(email)
    # End the read before the slow hash: on SQLite every transaction holds the write lock,
    # and intake must not wait on a password check (objects survive: expire_on_commit=False).
    await session.commit()
    # Verified even for unknown emails: a miss must not answer faster than a wrong password.
    matches = await checks.verify(staff.password_hash if staff else None, password)
    if staff is None or not staff.active or not matches:
        await throttle.failed(email, caller.client_ip)
        record(session, caller, "session.failed", ("staff", staff.id if staff else None))
        return None
    await throttle.succeeded(email, caller.client_ip)
    assert staff.password_hash is not None
    if passwords.needs_rehash(staff.password_hash):
        staff.password_hash = await checks.hash(password)
    staff.last_login_at = caller.now
    signed_in = Caller(staff=staff, client_ip=caller.client_ip, now=caller.now)
    return await StaffService(session, settings, signed_in).mint_token(
        staff,
        kind=TokenKind.SESSION,
        label="sign-in",
        lifetime=timedelta(hours=settings.staff_session_hours),
    )
