"""Request dependencies of the staff API: session, clock, credentials and roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inquiry.deps import ClientIpDep
from inquiry.errors import Forbidden, NotAuthenticated
from inquiry.models import as_utc
from inquiry.staff import tokens
from inquiry.staff.audit import Caller
from inquiry.staff.clock import Clock
from inquiry.staff.models import ApiToken, Staff, StaffRole, staff_table, token_table
from inquiry.staff.throttle import LoginThrottle

# Writing last_used_at on every request would turn every read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the route returns, rolled back if it raises."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        # Staff changes can queue mail (an unreachable visitor): let the worker look now.
        worker = getattr(request.app.state, "outbox_worker", None)
        if worker is not None:
            worker.notify()


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


# "function" scope: the commit happens before the answer is sent, so a 200 means stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]


@dataclass(frozen=True, slots=True)
class Credentials:
    staff: Staff
    token: ApiToken
    now: datetime


async def authenticate(request: Request, session: SessionDep, clock: ClockDep) -> Credentials:
    """The staff member behind the request's bearer token; 401 for anything else."""
    token = tokens.bearer(request.headers.get("authorization"))
    if token is None:
        raise NotAuthenticated()
    now = clock()
    row = (
        await session.execute(
            sa.select(ApiToken, Staff)
            .join(Staff, staff_table.c.id == token_table.c.staff_id)
            .where(token_table.c.token_hash == tokens.digest(token))
        )
    ).first()
    if row is None:
        raise NotAuthenticated()
    api_token, staff = row
    expired = api_token.expires_at is not None and as_utc(api_token.expires_at) <= now
    if api_token.revoked_at is not None or expired or not staff.active:
        raise NotAuthenticated()
    last_used = api_token.last_used_at
    if last_used is None or now - as_utc(last_used) >= _LAST_USED_RESOLUTION:
        api_token.last_used_at = now
    return Credentials(staff=staff, token=api_token, now=now)


CredentialsDep = Annotated[Credentials, Depends(authenticate)]


async def current_staff(credentials: CredentialsDep) -> Staff:
    return credentials.staff


async def require_admin(credentials: CredentialsDep) -> Staff:
    """403 unless the caller is an admin."""
    if credentials.staff.role != StaffRole.ADMIN:
        raise Forbidden("Only an admin may do this.")
    return credentials.staff


async def get_caller(credentials: CredentialsDep, client_ip: ClientIpDep) -> Caller:
    return Caller(staff=credentials.staff, client_ip=client_ip, now=credentials.now)


CurrentStaff = Annotated[Staff, Depends(current_staff)]
AdminStaff = Annotated[Staff, Depends(require_admin)]
CallerDep = Annotated[Caller, Depends(get_caller)]
