"""What every console page shares: who is signed in, form checks, and rendering.

The session is the staff API's own session token (inquiry.auth), carried in an HttpOnly
cookie scoped to /staff; a form post carries the session's CSRF token and, when the browser
sends one, an Origin that must be the service's own. Pages are rendered with the hosted
form's Jinja2 environment, in the staff member's language and the clinic's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from inquiry.audit import Caller
from inquiry.auth import (
    CONSOLE_PATH,
    SESSION_COOKIE,
    Credentials,
    authenticate,
    csrf_matches,
    csrf_token,
)
from inquiry.config import Settings
from inquiry.console.text import TEXT, ClinicTime
from inquiry.deps import ClientIpDep, ClockDep, SessionDep, SettingsDep
from inquiry.errors import NotAuthenticated
from inquiry.models import Staff
from inquiry.web.i18n import Language

LOGIN = f"{CONSOLE_PATH}/login"
ENROL = f"{CONSOLE_PATH}/account/two-factor"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


class SignInNeeded(Exception):
    """No live console session: the page sends the browser to sign in, then back."""

    def __init__(self, back_to: str) -> None:
        super().__init__("sign in needed")
        self.back_to = back_to


class EnrolmentNeeded(Exception):
    """The account must set up two-factor sign-in before anything else."""


class FormRefused(Exception):
    """A post without the signed-in session's CSRF token, or from another origin."""

    def __init__(self, language: Language) -> None:
        super().__init__("form refused")
        self.language = language


def same_site_path(value: object) -> str:
    """A console path to go back to after signing in; anything else is the queue."""
    if not isinstance(value, str) or len(value) > 500 or _CONTROL.search(value):
        return CONSOLE_PATH
    path = value.partition("?")[0]
    inside = path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")
    # No other host ("//"), no climbing out ("/.."), nothing encoded to hide either ("%").
    if not inside or path.startswith(LOGIN) or "//" in path or "/." in path or "%" in path:
        return CONSOLE_PATH
    return value


def own_origin(request: Request) -> bool:
    """No Origin (not sent by a page), or the service's own as configured, never the Host's."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    settings: Settings = request.app.state.settings
    scheme, _, rest = settings.public_base_url.partition("://")
    return origin.lower() == f"{scheme}://{rest.split('/', 1)[0]}".lower()


def language_of(staff: Staff | None) -> Language:
    return "fr" if staff is not None and staff.language == "fr" else "en"


async def _credentials(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Credentials:
    try:
        return await authenticate(request, session, settings, clock)
    except NotAuthenticated:
        back = request.url.path if request.method == "GET" else CONSOLE_PATH
        if request.method == "GET" and request.url.query:
            back += "?" + request.url.query
        raise SignInNeeded(same_site_path(back)) from None


async def enrolling(credentials: Annotated[Credentials, Depends(_credentials)]) -> Credentials:
    """A console session, which may still owe its second factor."""
    return credentials


async def signed_in(credentials: Annotated[Credentials, Depends(_credentials)]) -> Credentials:
    """A console session that passed what its account requires."""
    if credentials.second_factor_owed:
        raise EnrolmentNeeded()
    return credentials


@dataclass(frozen=True, slots=True)
class Console:
    """One console request: the signed-in member, the database session and the caller."""

    request: Request
    session: AsyncSession
    settings: Settings
    credentials: Credentials
    caller: Caller

    @property
    def staff(self) -> Staff:
        return self.credentials.staff

    @property
    def language(self) -> Language:
        return language_of(self.staff)

    async def form(self) -> FormData:
        """The posted form, once its origin and CSRF token are checked."""
        form = await self.request.form()
        presented = form.get("csrf_token")
        if (
            not own_origin(self.request)
            or not isinstance(presented, str)
            or not csrf_matches(self.settings, self.credentials.token, presented)
        ):
            raise FormRefused(self.language)
        return form

    def page(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render(
            self.request,
            template,
            self.language,
            status_code,
            staff=self.staff,
            csrf=csrf_token(self.settings, self.credentials.token),
            **context,
        )


def _console(
    request: Request, session: AsyncSession, settings: Settings, credentials: Credentials, ip: str
) -> Console:
    caller = Caller(staff=credentials.staff, client_ip=ip, now=credentials.now)
    return Console(request, session, settings, credentials, caller)


async def console(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[Credentials, Depends(signed_in)],
    client_ip: ClientIpDep,
) -> Console:
    return _console(request, session, settings, credentials, client_ip)


async def enrolling_console(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[Credentials, Depends(enrolling)],
    client_ip: ClientIpDep,
) -> Console:
    return _console(request, session, settings, credentials, client_ip)


ConsoleDep = Annotated[Console, Depends(console)]
EnrollingDep = Annotated[Console, Depends(enrolling_console)]


def content_security_policy(settings: Settings) -> str:
    images = " ".join(["'self'", "data:", *settings.allowed_origins])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def render(
    request: Request,
    template: str,
    language: Language,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A console page: no-store, and nothing from another origin."""
    settings: Settings = request.app.state.settings
    now = request.app.state.clock()
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        template,
        {
            "t": TEXT[language],
            "lang": language,
            "settings": settings,
            "time": ClinicTime(settings.clinic_timezone, language, now),
            "here": same_site_path(request.url.path),
            **context,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = content_security_policy(settings)
    return response


def redirect(path: str, **query: str) -> RedirectResponse:
    location = path + ("?" + urlencode(query) if query else "")
    response = RedirectResponse(location, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def install_handlers(app: FastAPI) -> None:
    """Answer the console's own refusals with pages and redirects, never JSON."""

    async def sign_in_needed(request: Request, error: Exception) -> Response:
        assert isinstance(error, SignInNeeded)
        response = redirect(LOGIN, next=error.back_to)
        if request.cookies.get(SESSION_COOKIE):
            response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PATH)
        return response

    async def enrolment_needed(request: Request, error: Exception) -> Response:
        return redirect(ENROL)

    async def form_refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, FormRefused)
        return render(request, "staff/problem.html", error.language, 403, problem="problem_form")

    app.add_exception_handler(SignInNeeded, sign_in_needed)
    app.add_exception_handler(EnrolmentNeeded, enrolment_needed)
    app.add_exception_handler(FormRefused, form_refused)
