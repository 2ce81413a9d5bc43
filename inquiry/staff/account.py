"""My account: what a signed-in staff member changes about their own credentials.

The API's /me routes call it, and so will the console's "My account" page. Takes a session
and flushes; never commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from inquiry.audit import Caller, record
from inquiry.config import Settings
from inquiry.models import ApiToken, Staff
from inquiry.staff.passwords import PasswordChecks
from inquiry.staff.service import StaffService
from inquiry.staff.throttle import LoginThrottle


@dataclass(frozen=True, slots=True)
class Guards:
    """What stands between a stolen session and a guessed password: the same as sign-in."""

    checks: PasswordChecks
    throttle: LoginThrottle


class MyAccount:
    """The signed-in staff member's own password (and, in two_factor.py, second factor)."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        caller: Caller,
        token: ApiToken,
        guards: Guards,
    ) -> None:
        assert caller.staff is not None
        self.staff: Staff = caller.staff
        self._session = session
        self._settings = settings
        self._caller = caller
        self._token = token
        self._guards = guards

    async def change_password(self, *, current: str, new: str) -> int | None:
        """Set a new password; every other session and token of the account ends.

        Only this request's own session is kept. Returns how many were revoked, or None (and
        an audit entry to commit) when `current` is not the account's password.
        """
        if not await self.confirm_password(current):
            return None
        accounts = StaffService(self._session, self._settings, self._caller)
        await accounts.set_password(self.staff, new)
        revoked = await accounts.revoke_all(self.staff, keep=self._token)
        record(self._session, self._caller, "staff.password_change", ("staff", self.staff.id))
        return revoked

    async def confirm_password(self, password: str) -> bool:
        """Whether this is the account's password; failures count as failed sign-ins."""
        throttle, email, address = self._guards.throttle, self.staff.email, self._caller.client_ip
        await throttle.check(email, address)
        if await self._guards.checks.verify(self.staff.password_hash, password):
            return True
        await throttle.failed(email, address)
        record(self._session, self._caller, "staff.password_wrong", ("staff", self.staff.id))
        return False
