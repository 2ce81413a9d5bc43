"""The console's account pages: two-factor sign-in enrolment, and the console's language.

Enrolment calls the same TwoFactor methods as the API's /me/two-factor routes, under the same
rule: once an account has a second factor, only a session that passed it may change it.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from inquiry.auth import CONSOLE_PATH
from inquiry.console.pages import Console, ConsoleDep, EnrollingDep, redirect, same_site_path
from inquiry.staff.service import StaffService
from inquiry.staff.two_factor import Enrolment, TwoFactor

router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)


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
