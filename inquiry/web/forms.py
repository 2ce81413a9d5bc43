"""The hosted contact form: works with no JavaScript, in English and French."""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from inquiry.deps import ClientIpDep, IntakeDep, LimiterDep, SettingsDep, is_allowed_origin
from inquiry.errors import (
    IdempotencyKeyReused,
    OriginNotAllowed,
    RateLimited,
    StorageUnavailable,
)
from inquiry.intake.messages import field_errors
from inquiry.intake.schemas import InquiryIn
from inquiry.signing import Signer
from inquiry.web.i18n import TEXT, Language, pick_language

router = APIRouter(prefix="/forms", tags=["hosted form"], include_in_schema=False)

_FIELDS = tuple(InquiryIn.model_fields)
_CHECKBOXES = ("voicemail_ok", "consent")
RECEIPT_MAX_AGE = 24 * 3600


def _signers(request: Request) -> tuple[Signer, Signer]:
    state = request.app.state
    return state.form_signer, state.receipt_signer


def _render(
    request: Request,
    template: str,
    language: Language,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    settings = request.app.state.settings
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        template,
        {"t": TEXT[language], "lang": language, "settings": settings, **context},
        status_code=status_code,
    )
    # Pages carry a one-time token or a reference: never cache them.
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_page(
    request: Request,
    language: Language,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    form_signer, _ = _signers(request)
    return _render(
        request,
        "form/contact.html",
        language,
        status_code,
        values=values,
        errors=errors or {},
        form_token=form_signer.sign(secrets.token_urlsafe(12)),
    )


@router.get("/contact", response_class=HTMLResponse)
async def contact_form(
    request: Request,
    lang: Annotated[str | None, Query(max_length=5)] = None,
    source: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """The hosted form, ready to embed in an iframe on the clinic's pages."""
    language = pick_language(lang, request.headers.get("accept-language"))
    page = source or request.headers.get("referer") or ""
    # Only printable text: a stray control character would fail a field nobody can see.
    page = "".join(ch for ch in page if ch.isprintable())[:500]
    return _form_page(request, language, {"source_page": page})


@router.post("/contact", response_class=HTMLResponse)
async def submit_form(
    request: Request,
    intake: IntakeDep,
    limiter: LimiterDep,
    client: ClientIpDep,
    settings: SettingsDep,
) -> Response:
    """Accept a posted form: 303 to the thank-you page, or the form again with its errors."""
    if not is_allowed_origin(request):
        raise OriginNotAllowed()
    form = await request.form()
    values = _values(form)
    language = pick_language(values.get("language"), request.headers.get("accept-language"))
    try:
        await limiter.hit_client(client)
        inquiry = _validated(values, language)
    except _FormErrors as problems:
        return _form_page(request, language, values, problems.errors, status_code=422)
    except RateLimited as error:
        return _rate_limited_page(request, language, values, error)

    form_signer, receipt_signer = _signers(request)
    token = form_signer.unsign(
        str(form.get("form_token", "")), max_age=settings.form_token_max_age_seconds
    )
    content_key = "form-content:" + hashlib.sha256(inquiry.model_dump_json().encode()).hexdigest()

    def receipt_location(answer: Any) -> bytes:
        receipt = receipt_signer.sign(f"{answer.reference}:{answer.language}:{int(answer.crisis)}")
        return ("/forms/thanks?" + urlencode({"receipt": receipt})).encode()

    async def accept(key: str, *, count_email: bool = True) -> bytes:
        accepted = await intake.accept(
            inquiry,
            source="form",
            idempotency_key=key,
            status_code=303,
            render=receipt_location,
            count_email=count_email,
        )
        return accepted.outcome.body

    try:
        try:
            # The one-time token makes a double click one inquiry; without a token (a plain
            # form on another page) the content itself is the key, so a double click still is.
            location = await accept(f"form:{token}" if token else content_key)
        except IdempotencyKeyReused:
            # Back button, edit, send again: a new inquiry the visitor meant to send.
            location = await accept(content_key, count_email=False)
    except RateLimited as error:
        return _rate_limited_page(request, language, values, error)
    except StorageUnavailable:
        # Nothing was stored: the page keeps what they wrote, and the crisis banner stays.
        message = TEXT[language]["storage_unavailable"].format(phone=settings.clinic_phone)
        return _form_page(request, language, values, {"": message}, status_code=503)
    return RedirectResponse(location.decode(), status_code=303)


def _rate_limited_page(
    request: Request, language: Language, values: dict[str, str], error: RateLimited
) -> HTMLResponse:
    message = TEXT[language]["rate_limited"]
    page = _form_page(request, language, values, {"": message}, status_code=429)
    page.headers.update(error.headers)
    return page


@router.get("/thanks", response_class=HTMLResponse)
async def thanks(
    request: Request,
    receipt: Annotated[str, Query(max_length=200)] = "",
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> HTMLResponse:
    """The thank-you page with the reference, and crisis resources first when they are owed."""
    _, receipt_signer = _signers(request)
    payload = receipt_signer.unsign(receipt, max_age=RECEIPT_MAX_AGE)
    if payload is None:
        language = pick_language(lang, request.headers.get("accept-language"))
        return _render(request, "form/thanks.html", language, reference=None, crisis=False)
    reference, language_code, crisis = payload.split(":")
    language = pick_language(language_code, None)
    resources = request.app.state.settings.crisis_resources[language] if crisis == "1" else []
    return _render(
        request,
        "form/thanks.html",
        language,
        reference=reference,
        crisis=crisis == "1",
        resources=resources,
    )


# Fields the page shows with their own error slot; others are hidden or fixed choices.
_SHOWN = frozenset(
    {
        "name",
        "email",
        "phone",
        "preferred_contact",
        "callback_window",
        "topic",
        "subject",
        "message",
        "consent",
    }
)


class _FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form errors")
        self.errors = errors


def _validated(values: dict[str, str], language: Language) -> InquiryIn:
    """The inquiry, or errors placed where the visitor can see them."""
    try:
        return InquiryIn.model_validate(_as_input(values))
    except ValidationError as error:
        problems = field_errors(error.errors(), language)
    errors = {problem["field"]: problem["message"] for problem in problems}
    if "source_page" in errors and values.pop("source_page", None) is not None:
        # Where they came from is ours to note, not theirs to fix: drop it and try again.
        return _validated(values, language)
    if any(field not in _SHOWN for field in errors):
        errors[""] = TEXT[language]["form_unreadable"]
    raise _FormErrors(errors)


def _values(form: FormData) -> dict[str, str]:
    """The submitted text fields we know, as strings (files and unknown fields are ignored)."""
    values: dict[str, str] = {}
    for name in (*_FIELDS, "form_token"):
        value = form.get(name)
        if isinstance(value, str):
            values[name] = value
    return values


def _as_input(values: dict[str, str]) -> dict[str, object]:
    data: dict[str, object] = {name: values[name] for name in _FIELDS if name in values}
    for checkbox in _CHECKBOXES:
        # An unticked checkbox is simply absent from a form post.
        data[checkbox] = checkbox in values and values[checkbox] not in ("", "off", "false")
    if not data.get("preferred_contact"):
        data.pop("preferred_contact", None)
    return data
