"""Signing in to the console and out: the password page, the code page, the cookie.

The same steps as the API's sign-in (inquiry.staff.login), throttled and audited the same
way. Between the password and the code, a signed ticket in the page carries the account: it
lasts five minutes and dies with a password change.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from inquiry.audit import Caller
from inquiry.auth import CONSOLE_PATH, SESSION_COOKIE
from inquiry.console.pages import (
    ENROL,
    LOGIN,
    EnrollingDep,
    language_of,
    own_origin,
    redirect,
    render,
    same_site_path,
)
from inquiry.deps import ClientIpDep, ClockDep, SessionDep, SettingsDep, from_state
from inquiry.errors import LoginThrottled, NotFound, SignInBusy, SignInUnavailable
from inquiry.models import Staff
from inquiry.signing import Signer
from inquiry.staff import two_factor
from inquiry.staff.login import SignedIn, check_password, check_second_factor, open_session
from inquiry.staff.passwords import PasswordChecks
from inquiry.staff.service import StaffService
from inquiry.staff.throttle import LoginThrottle
from inquiry.web.i18n import Language, pick_language

router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)

TICKET_SECONDS = 300
FORM_SECONDS = 4 * 3600
ThrottleDep = Annotated[LoginThrottle, Depends(from_state("login_throttle"))]
ChecksDep = Annotated[PasswordChecks, Depends(from_state("password_checks"))]


def _signer(request: Request, purpose: str) -> Signer:
    return Signer(request.app.state.settings.secret_key.get_secret_value(), purpose)


def _fingerprint(staff: Staff) -> str:
    return hashlib.sha256((staff.password_hash or "").encode()).hexdigest()[:16]


def _login_page(
    request: Request,
    language: Language,
    *,
    back_to: str,
    email: str = "",
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "staff/login.html",
        language,
        status_code,
        back_to=back_to,
        email=email,
        problem=problem,
        form_token=_signer(request, "staff-login").sign("login"),
    )


def _code_page(
    request: Request,
    language: Language,
    staff: Staff,
    *,
    back_to: str,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ticket = _signer(request, "staff-login-ticket").sign(f"{staff.id}-{_fingerprint(staff)}")
    return render(
        request,
        "staff/code.html",
        language,
        status_code,
        back_to=back_to,
        ticket=ticket,
        problem=problem,
    )


def _signed_in(request: Request, signed_in: SignedIn, back_to: str) -> Response:
    response = redirect(ENROL if signed_in.enrolment_required else back_to)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token.secret,
        path=CONSOLE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.public_base_url.startswith("https://"),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request,
    next: Annotated[str, Query(max_length=500)] = CONSOLE_PATH,  # noqa: A002 - the URL's word
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> HTMLResponse:
    """The sign-in page; after signing in, the browser goes back to `next` (a console path)."""
    language = pick_language(lang, request.headers.get("accept-language"))
    return _login_page(request, language, back_to=same_site_path(next))


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    checks: ChecksDep,
    clock: ClockDep,
    client_ip: ClientIpDep,
) -> Response:
    """Check the password: on to the code page, or signed in, or the page again."""
    form = await request.form()
    language = pick_language(str(form.get("language", "")), None)
    back_to = same_site_path(form.get("next"))
    email = str(form.get("email", ""))[:254]
    password = str(form.get("password", ""))[:1000]
    token = _signer(request, "staff-login").unsign(
        str(form.get("form_token", "")), max_age=FORM_SECONDS
    )
    if not own_origin(request) or token is None:
        return _login_page(
            request, language, back_to=back_to, email=email, problem="form_expired",
            status_code=403,
        )  # fmt: skip
    caller = Caller(staff=None, client_ip=client_ip, now=clock())
    try:
        staff = await check_password(
            session, settings, throttle, checks, caller, email=email, password=password
        )
        if staff is None:
            await session.commit()  # the failed attempt stays in the audit log
            return _login_page(
                request, language, back_to=back_to, email=email,
                problem="wrong_credentials", status_code=401,
            )  # fmt: skip
        if two_factor.enabled(staff):
            await session.commit()  # a rehashed password is kept
            return _code_page(request, language_of(staff), staff, back_to=back_to)
        signed_in = await open_session(
            session, settings, throttle, caller, staff, second_factor=None
        )
    except (LoginThrottled, SignInBusy, SignInUnavailable) as error:
        return await _refused(request, language, error, back_to=back_to, email=email)
    return _signed_in(request, signed_in, back_to)


@router.post("/login/code", response_class=HTMLResponse)
async def login_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    clock: ClockDep,
    client_ip: ClientIpDep,
) -> Response:
    """Check the second factor of an account whose password passed a moment ago."""
    form = await request.form()
    back_to = same_site_path(form.get("next"))
    language = pick_language(str(form.get("language", "")), None)
    ticket = _signer(request, "staff-login-ticket").unsign(
        str(form.get("ticket", "")), max_age=TICKET_SECONDS
    )
    caller = Caller(staff=None, client_ip=client_ip, now=clock())
    staff = await _ticket_holder(session, settings, caller, ticket)
    if staff is None or not own_origin(request):
        return _login_page(
            request, language, back_to=back_to, problem="form_expired", status_code=403
        )
    code = str(form.get("code", ""))[:64]
    try:
        passed = await check_second_factor(session, settings, throttle, caller, staff, code)
        if passed is None:
            await session.commit()  # the failed attempt stays in the audit log
            return _code_page(
                request, language, staff, back_to=back_to, problem="code_wrong", status_code=401
            )
        signed_in = await open_session(
            session, settings, throttle, caller, staff, second_factor=passed
        )
    except (LoginThrottled, SignInBusy, SignInUnavailable) as error:
        return await _refused(request, language, error, back_to=back_to, email=staff.email)
    return _signed_in(request, signed_in, back_to)


@router.post("/logout")
async def logout(console: EnrollingDep) -> Response:
    """Sign out: the current sign-in ends on the server, and the cookie goes."""
    await console.form()
    accounts = StaffService(console.session, console.settings, console.caller)
    await accounts.revoke(console.credentials.token, action="session.revoke")
    response = redirect(LOGIN, lang=console.language)
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PATH)
    return response


async def _ticket_holder(
    session: SessionDep, settings: SettingsDep, caller: Caller, ticket: str | None
) -> Staff | None:
    """The account whose password passed, if the ticket is ours, fresh, and still true."""
    staff_id, _, fingerprint = (ticket or "").partition("-")
    if not staff_id.isdigit():
        return None
    try:
        staff = await StaffService(session, settings, caller).get(int(staff_id))
    except NotFound:
        return None
    if not staff.active or _fingerprint(staff) != fingerprint:
        return None
    return staff


async def _refused(
    request: Request,
    language: Language,
    error: LoginThrottled | SignInBusy | SignInUnavailable,
    *,
    back_to: str,
    email: str,
) -> HTMLResponse:
    settings = request.app.state.settings
    if not isinstance(error, SignInUnavailable):
        # As the API: a flood's connections each wait before their answer.
        await asyncio.sleep(settings.staff_login_refusal_delay_seconds)
    problem = "throttled" if isinstance(error, LoginThrottled) else "sign_in_unavailable"
    page = _login_page(
        request, language, back_to=back_to, email=email, problem=problem,
        status_code=error.status_code,
    )  # fmt: skip
    page.headers.update(error.headers)
    return page
