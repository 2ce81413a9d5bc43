"""Staff API: signing in and out, accounts and tokens (admins), the audit log (admins)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from inquiry import audit
from inquiry.audit import Caller
from inquiry.auth import (
    CallerDep,
    CredentialsDep,
    authenticate,
    require_admin,
    require_second_factor,
)
from inquiry.deps import (
    ClientIpDep,
    ClockDep,
    Offset,
    RowId,
    SessionDep,
    SettingsDep,
    from_state,
)
from inquiry.errors import (
    InvalidCredentials,
    InvalidTwoFactorCode,
    LoginThrottled,
    SessionRequired,
    SignInBusy,
)
from inquiry.http_errors import errors
from inquiry.models import MAX_ROW_ID
from inquiry.query_params import Instant, refuse_unknown_query
from inquiry.staff import two_factor
from inquiry.staff.login import sign_in
from inquiry.staff.passwords import PasswordChecks
from inquiry.staff.schemas import (
    AuditEntryOut,
    NewTokenOut,
    SignInIn,
    StaffCreateIn,
    StaffOut,
    StaffUpdateIn,
    TokenCreateIn,
    TokenOut,
)
from inquiry.staff.search import inquiry_id_of, reference_in
from inquiry.staff.service import MintedToken, StaffService
from inquiry.staff.throttle import LoginThrottle

PREFIX = "/api/v1/staff"

# The one staff route open without a token: signing in to get one.
public = APIRouter(prefix=PREFIX, tags=["staff"])
# Routes a session may use before its second factor: who am I, and signing out.
before_second_factor = APIRouter(
    prefix=PREFIX,
    tags=["staff"],
    dependencies=[Depends(authenticate), Depends(refuse_unknown_query)],
    responses=errors(422),  # an unknown query parameter
)
admin = APIRouter(
    prefix=PREFIX,
    tags=["staff"],
    dependencies=[
        Depends(authenticate),
        Depends(require_second_factor),
        Depends(require_admin),
        Depends(refuse_unknown_query),
    ],
    responses=errors(422),  # an unknown query parameter
)


async def get_accounts(
    session: SessionDep, settings: SettingsDep, caller: CallerDep
) -> StaffService:
    return StaffService(session, settings, caller)


AccountsDep = Annotated[StaffService, Depends(get_accounts)]
ThrottleDep = Annotated[LoginThrottle, Depends(from_state("login_throttle"))]
PasswordChecksDep = Annotated[PasswordChecks, Depends(from_state("password_checks"))]


def _new_token(
    minted: MintedToken, staff: StaffOut, *, enrolment_required: bool = False
) -> NewTokenOut:
    return NewTokenOut(
        token=minted.secret,
        details=TokenOut.of(minted.row),
        staff=staff,
        two_factor_enrolment_required=enrolment_required,
    )


@public.post(
    "/session", status_code=201, response_model=NewTokenOut, responses=errors(422, 429, 503)
)
async def create_session(
    body: SignInIn,
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    checks: PasswordChecksDep,
    clock: ClockDep,
    client_ip: ClientIpDep,
) -> NewTokenOut:
    """Sign in with email and password, and `totp_code` (the authenticator app's code, or a
    recovery code) for an account with two-factor sign-in; the answer holds a bearer token for
    the new session. 401 two_factor_required when the code is missing; an account that must
    still enrol gets a session that may only do that (two_factor_enrolment_required)."""
    caller = Caller(staff=None, client_ip=client_ip, now=clock())
    try:
        signed_in = await sign_in(
            session,
            settings,
            throttle,
            checks,
            caller,
            email=body.email,
            password=body.password,
            code=body.totp_code,
        )
    except (InvalidCredentials, InvalidTwoFactorCode):
        await session.commit()  # the failed attempt stays in the audit log
        raise
    except (LoginThrottled, SignInBusy):
        await asyncio.sleep(settings.staff_login_refusal_delay_seconds)
        raise
    return _new_token(
        signed_in.token,
        StaffOut.of(signed_in.staff),
        enrolment_required=signed_in.enrolment_required,
    )


@before_second_factor.delete("/session", status_code=204, responses=errors())
async def delete_session(credentials: CredentialsDep, accounts: AccountsDep) -> Response:
    """Sign out: the token of this request stops working."""
    await accounts.revoke(credentials.token, action="session.revoke")
    return Response(status_code=204)


@before_second_factor.get("/me", response_model=StaffOut, responses=errors())
async def me(credentials: CredentialsDep) -> StaffOut:
    """The signed-in staff member."""
    return StaffOut.of(credentials.staff)


@admin.get("/accounts", response_model=list[StaffOut], responses=errors(403))
async def list_accounts(accounts: AccountsDep) -> list[StaffOut]:
    """Every staff account."""
    return [StaffOut.of(staff) for staff in await accounts.all()]


@admin.post("/accounts", status_code=201, response_model=StaffOut, responses=errors(403, 409, 422))
async def create_account(body: StaffCreateIn, accounts: AccountsDep) -> StaffOut:
    """Add a staff account (with a password to sign in, or none for token-only use)."""
    staff = await accounts.create(
        email=body.email, role=body.role, name=body.name, password=body.password
    )
    return StaffOut.of(staff)


@admin.patch("/accounts/{staff_id}", response_model=StaffOut, responses=errors(403, 404, 409, 422))
async def update_account(staff_id: RowId, body: StaffUpdateIn, accounts: AccountsDep) -> StaffOut:
    """Change role, name, password, or disable (which also frees the account's claims)."""
    staff = await accounts.update(
        await accounts.get(staff_id),
        role=body.role,
        active=body.active,
        name=body.name,
        password=body.password,
    )
    return StaffOut.of(staff)


@admin.get("/accounts/{staff_id}/tokens", response_model=list[TokenOut], responses=errors(403, 404))
async def list_tokens(staff_id: RowId, accounts: AccountsDep) -> list[TokenOut]:
    """The account's tokens (never their secrets)."""
    return [TokenOut.of(t) for t in await accounts.tokens_of(await accounts.get(staff_id))]


@admin.post(
    "/accounts/{staff_id}/tokens",
    status_code=201,
    response_model=NewTokenOut,
    responses=errors(403, 404, 422),
)
async def create_token(
    staff_id: RowId,
    body: TokenCreateIn,
    accounts: AccountsDep,
    credentials: CredentialsDep,
    settings: SettingsDep,
) -> NewTokenOut:
    """Mint an API token for the account: shown in this answer once, stored only as a hash.

    It expires after `expires_in_days`, or INQUIRY_STAFF_TOKEN_DAYS; `no_expiry` makes one
    that lives until revoked. API tokens skip two-factor sign-in, so where the caller's
    account requires it, only a session that passed it may mint one (403 session_required).
    """
    if two_factor.required(settings, credentials.staff) and not credentials.token.second_factor:
        raise SessionRequired()
    staff = await accounts.get(staff_id)
    lifetime = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    minted = await accounts.mint_token(
        staff, label=body.label, lifetime=lifetime, never_expires=body.no_expiry
    )
    return _new_token(minted, StaffOut.of(staff))


@admin.delete(
    "/accounts/{staff_id}/two-factor", response_model=StaffOut, responses=errors(403, 404)
)
async def reset_two_factor(staff_id: RowId, accounts: AccountsDep) -> StaffOut:
    """Remove an account's second factor (a lost phone) and end its sessions; where two-factor
    sign-in is required, its next sign-in must enrol again."""
    staff = await accounts.get(staff_id)
    await accounts.reset_two_factor(staff)
    return StaffOut.of(staff)


@admin.delete("/tokens/{token_id}", response_model=TokenOut, responses=errors(403, 404))
async def revoke_token(token_id: RowId, accounts: AccountsDep) -> TokenOut:
    """Revoke a token at once."""
    return TokenOut.of(await accounts.revoke(await accounts.get_token(token_id)))


@admin.get("/audit", response_model=list[AuditEntryOut], responses=errors(403, 404, 422))
async def read_audit(
    session: SessionDep,
    caller: CallerDep,
    staff_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    target_type: Annotated[str | None, Query(max_length=20)] = None,
    target_id: Annotated[str | None, Query(max_length=40)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[AuditEntryOut]:
    """The audit log, newest first; an inquiry's entries by its id or its reference. Reading
    it is audited too."""
    if target_type == "inquiry" and target_id is not None and reference_in(target_id):
        target_id = str(await inquiry_id_of(session, target_id))
    entries = await audit.entries(
        session,
        staff_id=staff_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    filters = {"staff_id": staff_id, "action": action, "target_type": target_type}
    audit.record(
        session, caller, "audit.read", filters={k: v for k, v in filters.items() if v is not None}
    )
    return [AuditEntryOut.of(entry) for entry in entries]
