"""Authentication for every staff route: the token, how a request presents it, and the checks.

A token is random, shown once and kept only as its SHA-256. Signing in mints a session token
(TokenKind.SESSION) that expires, as an API token does after INQUIRY_STAFF_TOKEN_DAYS unless
made to live until revoked. The staff console presents the same session token in a cookie
(SESSION_COOKIE, sent by browsers to /staff only), which also lapses after
INQUIRY_STAFF_IDLE_MINUTES without use and makes every form post carry `csrf_token`.
Routers declare `authenticate` (or `require_admin`) and, but for the routes a session may use
before its second factor, `require_second_factor`; they read the caller through `CallerDep`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request

from inquiry.audit import Caller
from inquiry.config import Settings, TwoFactorPolicy
from inquiry.deps import ClientIpDep, ClockDep, SessionDep, SettingsDep
from inquiry.errors import Forbidden, NotAuthenticated, TwoFactorEnrolmentRequired
from inquiry.models import (
    ApiToken,
    Staff,
    StaffRole,
    TokenKind,
    as_utc,
    staff_table,
    token_table,
)

PREFIX = "inqs_"
SESSION_COOKIE = "inquiry_session"
# The console's pages; the cookie is never read anywhere else, so the JSON API cannot be
# driven by a cross-site request that carries it.
CONSOLE_PATH = "/staff"
# Sent by the console's script on what a page asks by itself (the queue keeping up to date):
# that is not a person using the console, so it does not keep an idle session alive.
PASSIVE_HEADER = "x-console-passive"
_SHOWN_PREFIX = 12  # "inqs_" and 7 random characters: enough to tell tokens apart in a list
# Writing last_used_at on every request would turn every read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def mint() -> str:
    """A new token (256 bits of randomness)."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def shown_prefix(token: str) -> str:
    return token[:_SHOWN_PREFIX]


def bearer(authorization: str | None) -> str | None:
    """The token of an 'Authorization: Bearer …' header, if it looks like one of ours."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        return None
    return token


def presented_token(request: Request) -> str | None:
    """The token this request presents, if any.

    The one place a request's credential is read, so that every way of presenting a session
    token is checked by the same `authenticate`.
    """
    return bearer(request.headers.get("authorization")) or console_cookie(request)


def console_cookie(request: Request) -> str | None:
    """The session token of the console's cookie, on console paths only."""
    path = request.url.path
    if path != CONSOLE_PATH and not path.startswith(CONSOLE_PATH + "/"):
        return None
    token = request.cookies.get(SESSION_COOKIE, "")
    return token if token.startswith(PREFIX) and len(token) <= 200 else None


def csrf_token(settings: Settings, token: ApiToken) -> str:
    """The console session's form token: derived from the session, so nothing more is kept."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"csrf:{token.token_hash}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_matches(settings: Settings, token: ApiToken, presented: str) -> bool:
    return hmac.compare_digest(csrf_token(settings, token), presented)


def second_factor_required(settings: Settings, staff: Staff) -> bool:
    """Whether this account's sessions must pass two-factor sign-in (INQUIRY_STAFF_REQUIRE_2FA)."""
    policy = settings.staff_require_2fa
    return policy is TwoFactorPolicy.ALL or (
        policy is TwoFactorPolicy.ADMINS and staff.role == StaffRole.ADMIN
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    staff: Staff
    token: ApiToken
    now: datetime
    # A session that has not passed the two-factor sign-in its account requires.
    second_factor_owed: bool = False


async def authenticate(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Credentials:
    """The staff member behind the request's token; 401 for anything else.

    A session still owing its second factor is authenticated here, for the few routes that
    let it enrol one or sign out; every other route also depends on require_second_factor.
    """
    token = presented_token(request)
    if token is None:
        raise NotAuthenticated()
    now = clock()
    row = (
        await session.execute(
            sa.select(ApiToken, Staff)
            .join(Staff, staff_table.c.id == token_table.c.staff_id)
            .where(token_table.c.token_hash == digest(token))
        )
    ).first()
    if row is None:
        raise NotAuthenticated()
    api_token, staff = row
    expired = api_token.expires_at is not None and as_utc(api_token.expires_at) <= now
    if api_token.revoked_at is not None or expired or not staff.active:
        raise NotAuthenticated()
    counts_as_use = True
    if token == console_cookie(request):
        if _idle(api_token, settings, now):
            raise NotAuthenticated()
        counts_as_use = request.headers.get(PASSIVE_HEADER) != "1"
    last_used = api_token.last_used_at
    if counts_as_use and (last_used is None or now - as_utc(last_used) >= _LAST_USED_RESOLUTION):
        api_token.last_used_at = now
    owed = (
        api_token.kind == TokenKind.SESSION
        and not api_token.second_factor
        and second_factor_required(settings, staff)
    )
    return Credentials(staff=staff, token=api_token, now=now, second_factor_owed=owed)


def _idle(token: ApiToken, settings: Settings, now: datetime) -> bool:
    """A console session unused for INQUIRY_STAFF_IDLE_MINUTES (a desk left signed in)."""
    used = as_utc(token.last_used_at or token.created_at)
    # last_used_at is written at most once a minute: allow for that much.
    return now - used > timedelta(minutes=settings.staff_idle_minutes) + _LAST_USED_RESOLUTION


CredentialsDep = Annotated[Credentials, Depends(authenticate)]


async def require_second_factor(credentials: CredentialsDep) -> None:
    """403 for a session that has not passed the two-factor sign-in its account requires."""
    if credentials.second_factor_owed:
        raise TwoFactorEnrolmentRequired()


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
