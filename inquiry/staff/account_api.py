"""My account, for the signed-in staff member: password and two-factor sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from inquiry.auth import CallerDep, CredentialsDep, authenticate, require_second_factor
from inquiry.deps import SessionDep, SettingsDep, from_state
from inquiry.errors import (
    InvalidTwoFactorCode,
    SessionRequired,
    TwoFactorNotEnabled,
    WrongPassword,
)
from inquiry.http_errors import errors
from inquiry.query_params import refuse_unknown_query
from inquiry.staff.account import Guards, MyAccount
from inquiry.staff.passwords import PasswordChecks
from inquiry.staff.schemas import (
    PasswordChangeIn,
    RecoveryCodesOut,
    TwoFactorCodeIn,
    TwoFactorEnrolmentOut,
)
from inquiry.staff.throttle import LoginThrottle
from inquiry.staff.two_factor import TwoFactor

PREFIX = "/api/v1/staff/me"

# Enrolling a second factor is what a session that still owes one may do.
enrolling = APIRouter(
    prefix=PREFIX,
    tags=["staff"],
    dependencies=[Depends(authenticate), Depends(refuse_unknown_query)],
    responses=errors(422),  # an unknown query parameter
)
router = APIRouter(
    prefix=PREFIX,
    tags=["staff"],
    dependencies=[
        Depends(authenticate),
        Depends(require_second_factor),
        Depends(refuse_unknown_query),
    ],
    responses=errors(422),  # an unknown query parameter
)


async def get_my_account(
    session: SessionDep,
    settings: SettingsDep,
    caller: CallerDep,
    credentials: CredentialsDep,
    throttle: Annotated[LoginThrottle, Depends(from_state("login_throttle"))],
    checks: Annotated[PasswordChecks, Depends(from_state("password_checks"))],
) -> MyAccount:
    return MyAccount(session, settings, caller, credentials.token, Guards(checks, throttle))


async def get_two_factor(
    session: SessionDep, settings: SettingsDep, caller: CallerDep, credentials: CredentialsDep
) -> TwoFactor:
    """Once an account has a second factor, only a session that passed it may change it (not
    an API token, not a session from before)."""
    if credentials.staff.totp_secret is not None and not credentials.token.second_factor:
        raise SessionRequired("Sign in again with your code to change two-factor sign-in.")
    return TwoFactor(session, settings, caller)


MyAccountDep = Annotated[MyAccount, Depends(get_my_account)]
TwoFactorDep = Annotated[TwoFactor, Depends(get_two_factor)]


@router.post("/password", status_code=204, responses=errors(403, 422, 429, 503))
async def change_password(
    body: PasswordChangeIn, account: MyAccountDep, session: SessionDep
) -> Response:
    """Change your own password: the current sign-in stays, every other session and token ends."""
    revoked = await account.change_password(current=body.current_password, new=body.new_password)
    if revoked is None:
        await session.commit()  # the failed attempt stays in the audit log
        raise WrongPassword()
    return Response(status_code=204)


@enrolling.post(
    "/two-factor", status_code=201, response_model=TwoFactorEnrolmentOut, responses=errors(403)
)
async def start_two_factor(
    two_factor: TwoFactorDep, credentials: CredentialsDep
) -> TwoFactorEnrolmentOut:
    """Start enrolling an authenticator app: a new secret, as text, otpauth:// URI and QR code
    (SVG). It takes effect once a code from the app confirms it."""
    enrolment = await two_factor.start(credentials.staff)
    return TwoFactorEnrolmentOut(
        secret=enrolment.secret, otpauth_uri=enrolment.uri, qr_svg=enrolment.qr_svg
    )


@enrolling.post("/two-factor/confirm", response_model=RecoveryCodesOut, responses=errors(403, 422))
async def confirm_two_factor(
    body: TwoFactorCodeIn,
    two_factor: TwoFactorDep,
    credentials: CredentialsDep,
    session: SessionDep,
) -> RecoveryCodesOut:
    """Confirm the enrolment with a code from the app: two-factor sign-in is on, the current
    sign-in has passed it, other sessions end, and the recovery codes are in this answer alone."""
    codes = await two_factor.confirm(credentials.staff, body.code, session_token=credentials.token)
    if codes is None:
        await session.commit()  # the failed attempt stays in the audit log
        raise InvalidTwoFactorCode()
    return RecoveryCodesOut(recovery_codes=codes)


@router.post(
    "/two-factor/recovery-codes", response_model=RecoveryCodesOut, responses=errors(403, 409)
)
async def new_recovery_codes(
    two_factor: TwoFactorDep, credentials: CredentialsDep
) -> RecoveryCodesOut:
    """Ten new recovery codes, shown in this answer only; the old ones stop working."""
    if credentials.staff.totp_secret is None:
        raise TwoFactorNotEnabled()
    return RecoveryCodesOut(recovery_codes=await two_factor.new_recovery_codes(credentials.staff))
