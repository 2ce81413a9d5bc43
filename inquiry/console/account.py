"""The console's account pages: My account (language, password, sessions and tokens),
two-factor sign-in enrolment, and the console's language.

The password change calls MyAccount, as the API's /me/password does (same throttle, same
checks); enrolment calls the same TwoFactor methods as the API's /me/two-factor routes, under
the same rule: once an account has a second factor, only a session that passed it may change it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from inquiry.auth import CONSOLE_PATH, SESSION_COOKIE
from inquiry.console.pages import (
    LOGIN,
    Console,
    ConsoleDep,
    EnrollingDep,
    redirect,
    same_site_path,
)
from inquiry.errors import InvalidPassword, LoginThrottled, SignInBusy, SignInUnavailable
from inquiry.models import as_utc
from inquiry.staff.account import Guards, MyAccount
from inquiry.staff.service import StaffService
from inquiry.staff.two_factor import Enrolment, TwoFactor

router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)
ACCOUNT = f"{CONSOLE_PATH}/account"
PASSWORD_MAX = 1000
_NOTICES = ("password_changed",)
_PROBLEMS = (
    "password_missing", "password_weak", "password_wrong", "throttled", "sign_in_unavailable",
)  # fmt: skip


async def _my_account_page(
    console: Console, *, problem: str | None = None, notice: str | None = None,
    revoked: int = 0,
) -> HTMLResponse:  # fmt: skip
    accounts = StaffService(console.session, console.settings, console.caller)
    now = console.credentials.now
    live = [
        token
        for token in await accounts.tokens_of(console.staff)
        if token.revoked_at is None and (token.expires_at is None or as_utc(token.expires_at) > now)
    ]
    return console.page(
        "staff/account.html",
        tokens=live,
        this_token=console.credentials.token.id,
        problem=problem,
        notice=notice,
        revoked=revoked,
        min_length=console.settings.staff_password_min_length,
    )


@router.get("/account", response_class=HTMLResponse)
async def my_account(
    console: ConsoleDep,
    notice: Annotated[str, Query(max_length=20)] = "",
    problem: Annotated[str, Query(max_length=20)] = "",
    revoked: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    """Language, password, and the account's live sessions and tokens."""
    return await _my_account_page(
        console,
        notice=notice if notice in _NOTICES else None,
        problem=problem if problem in _PROBLEMS else None,
        revoked=revoked,
    )


@router.post("/account/password")
async def change_password(console: ConsoleDep) -> Response:
    """A new password, with the current one: every other session and token ends."""
    form = await console.form()
    current, new = str(form.get("current_password", "")), str(form.get("new_password", ""))
    if not current or not new or max(len(current), len(new)) > PASSWORD_MAX:
        return redirect(ACCOUNT, problem="password_missing")
    request = console.request
    guards = Guards(request.app.state.password_checks, request.app.state.login_throttle)
    account = MyAccount(
        console.session, console.settings, console.caller, console.credentials.token, guards
    )
    try:
        revoked = await account.change_password(current=current, new=new)
    except InvalidPassword:
        await console.session.rollback()
        return redirect(ACCOUNT, problem="password_weak")
    except (LoginThrottled, SignInBusy, SignInUnavailable) as error:
        await console.session.rollback()
        problem = "throttled" if isinstance(error, LoginThrottled) else "sign_in_unavailable"
        return redirect(ACCOUNT, problem=problem)
    if revoked is None:
        await console.session.commit()  # the failed attempt stays in the audit log
        return redirect(ACCOUNT, problem="password_wrong")
    return redirect(ACCOUNT, notice="password_changed", revoked=str(revoked))


@router.post("/account/sign-out-everywhere")
async def sign_out_everywhere(console: ConsoleDep) -> Response:
    """End every session and API token of the account, this one too."""
    await console.form()
    accounts = StaffService(console.session, console.settings, console.caller)
    await accounts.revoke_all(console.staff)
    response = redirect(LOGIN, lang=console.language)
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PATH)
    return response


def _may_change(console: Console) -> bool:
    return console.staff.totp_secret is None or console.credentials.token.second_factor


async def _account_page(
    console: Console,
    *,
    enrolment: Enrolment | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    two_factor = TwoFactor(console.session, console.settings, console.caller)
    enabled = console.staff.totp_secret is not None
    left = await two_factor.remaining_recovery_codes(console.staff) if enabled else 0
    return console.page(
        "staff/two_factor.html",
        status_code,
        enabled=enabled,
        left=left,
        owed=console.credentials.second_factor_owed,
        may_change=_may_change(console),
        enrolment=enrolment,
        problem=problem,
    )


@router.get("/account/two-factor", response_class=HTMLResponse)
async def two_factor_page(console: EnrollingDep) -> HTMLResponse:
    """Whether two-factor sign-in is on, and the button to set it up."""
    return await _account_page(console)


@router.post("/account/two-factor", response_class=HTMLResponse)
async def start_enrolment(console: EnrollingDep) -> HTMLResponse:
    """A new secret to scan, and the field for the app's first code."""
    await console.form()
    if not _may_change(console):
        return await _account_page(console, problem="two_factor_fresh", status_code=403)
    two_factor = TwoFactor(console.session, console.settings, console.caller)
    return await _account_page(console, enrolment=await two_factor.start(console.staff))


@router.post("/account/two-factor/confirm", response_class=HTMLResponse)
async def confirm_enrolment(console: EnrollingDep) -> HTMLResponse:
    """Turn two-factor sign-in on with a code from the app; the recovery codes, once."""
    form = await console.form()
    if not _may_change(console):
        return await _account_page(console, problem="two_factor_fresh", status_code=403)
    two_factor = TwoFactor(console.session, console.settings, console.caller)
    code = str(form.get("code", ""))[:64]
    codes = await two_factor.confirm(console.staff, code, session_token=console.credentials.token)
    if codes is None:
        await console.session.commit()  # the failed attempt stays in the audit log
        return await _account_page(
            console,
            enrolment=two_factor.pending(console.staff),
            problem="code_wrong",
            status_code=422,
        )
    return console.page("staff/recovery_codes.html", codes=codes)


@router.post("/language")
async def choose_language(console: ConsoleDep) -> Response:
    """Speak English or French to this staff member from now on, and go back."""
    form = await console.form()
    language = str(form.get("language", ""))
    if language in ("en", "fr"):
        accounts = StaffService(console.session, console.settings, console.caller)
        await accounts.set_language(console.staff, language)
    return redirect(same_site_path(form.get("next")))
