"""The hosted contact form: works with no JavaScript, in English and French."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from inquiry.config import Settings
from inquiry.deps import ClientIpDep, SettingsDep
from inquiry.errors import (
    IdempotencyKeyReused,
    OriginNotAllowed,
    RateLimited,
    StorageUnavailable,
)
from inquiry.field_errors import field_errors
from inquiry.intake.deps import IntakeDep, LimiterDep, is_allowed_origin
from inquiry.intake.schemas import InquiryIn, contact_errors
from inquiry.signing import Signer
from inquiry.web.i18n import TEXT, Language, pick_language
from inquiry.web.receipt import Receipts

log = logging.getLogger(__name__)
router = APIRouter(prefix="/forms", tags=["hosted form"], include_in_schema=False)

# What the visitor types; form_subject comes only from the embedding site's `_subject`.
_FIELDS = tuple(name for name in InquiryIn.model_fields if name != "form_subject")
_CHECKBOXES = ("voicemail_ok", "consent")
# Field names of hosted form backends (Formspree and the like), so a clinic site can switch
# by changing only its form's action. The plain field wins when both are sent.
_ALIASES = {"_replyto": "email", "_gotcha": "website", "_language": "language"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _form_signer(request: Request) -> Signer:
    signer: Signer = request.app.state.form_signer
    return signer


def _receipts(request: Request) -> Receipts:
    receipts: Receipts = request.app.state.receipts
    return receipts


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
    return _render(
        request,
        "form/contact.html",
        language,
        status_code,
        values=values,
        errors=errors or {},
        form_token=_form_signer(request).sign(secrets.token_urlsafe(12)),
        privacy_notice=_privacy_notice(request.app.state.settings, language),
    )


def _privacy_notice(settings: Settings, language: Language) -> str:
    notice = settings.privacy_notice_fr if language == "fr" else settings.privacy_notice_en
    return notice.format(phone=settings.clinic_phone, email=settings.admin_email)


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

    token = _form_signer(request).unsign(
        str(form.get("form_token", "")), max_age=settings.form_token_max_age_seconds
    )
    content_key = "form-content:" + hashlib.sha256(inquiry.model_dump_json().encode()).hexdigest()
    next_url = _next_url(form.get("_next"), settings)
    receipts = _receipts(request)

    def receipt_location(answer: Any) -> bytes:
        # A visitor in crisis always gets the crisis page, wherever the site wanted them sent.
        if next_url and not answer.crisis:
            return next_url.encode()
        receipt = receipts.issue(answer.reference, answer.language, answer.crisis)
        return ("/forms/thanks?" + urlencode({"receipt": receipt})).encode()

    async def accept(key: str, *, count_email: bool = True) -> bytes:
        accepted = await intake.accept(
            inquiry,
            source="form",
            idempotency_key=key,
            status_code=303,
            render=receipt_location,
            client_ip=client,
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
    found = _receipts(request).read(receipt)
    if found is None:
        language = pick_language(lang, request.headers.get("accept-language"))
        return _render(request, "form/thanks.html", language, reference=None, crisis=False)
    resources = request.app.state.settings.crisis_resources[found.language] if found.crisis else []
    return _render(
        request,
        "form/thanks.html",
        found.language,
        reference=found.reference,
        crisis=found.crisis,
        resources=resources,
    )


def _next_url(value: object, settings: Settings) -> str | None:
    """`_next` when it is an address on one of the clinic's own origins; never an open redirect."""
    if not isinstance(value, str) or not value or _CONTROL.search(value) or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return value if origin in settings.allowed_origins else None


# Fields the page shows with their own error slot, in the page's order (the error summary
# lists problems in this order); others are hidden or fixed choices.
_SHOWN = (
    "name",
    "email",
    "phone",
    "preferred_contact",
    "callback_window",
    "topic",
    "subject",
    "message",
    "consent",
)


class _FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form errors")
        self.errors = errors


def _validated(values: dict[str, str], language: Language) -> InquiryIn:
    """The inquiry, or every problem at once, each placed where the visitor can see it."""
    data = _as_input(values)
    try:
        return InquiryIn.model_validate(data)
    except ValidationError as error:
        problems = field_errors([*error.errors(), *contact_errors(data)], language)
    found = {problem["field"]: problem["message"] for problem in problems}
    if "source_page" in found and values.pop("source_page", None) is not None:
        # Where they came from is ours to note, not theirs to fix: drop it and try again.
        return _validated(values, language)
    if "form_subject" in found and values.pop("form_subject", None) is not None:
        return _validated(values, language)  # the embedding site's label, not theirs either
    errors = {field: found[field] for field in _SHOWN if field in found}
    if any(field not in _SHOWN for field in found):
        errors = {"": TEXT[language]["form_unreadable"], **errors}
    raise _FormErrors(errors)


def _values(form: FormData) -> dict[str, str]:
    """The submitted text fields we know, as strings (files and unknown fields are ignored)."""
    values: dict[str, str] = {}
    for name in (*_FIELDS, "form_token"):
        value = form.get(name)
        if isinstance(value, str):
            values[name] = value
    for alias, name in _ALIASES.items():
        value = form.get(alias)
        if isinstance(value, str) and not values.get(name, "").strip():
            values[name] = value
    subject = form.get("_subject")
    if isinstance(subject, str) and subject.strip():
        if _CONTROL.search(subject) or len(subject) > 200:
            # The site's label for the admin email: a bad one costs the label, not the inquiry.
            log.warning("form _subject ignored: not a single line of at most 200 characters")
        else:
            values["form_subject"] = subject
    return values


def _as_input(values: dict[str, str]) -> dict[str, object]:
    fields = InquiryIn.model_fields
    data: dict[str, object] = {name: values[name] for name in fields if name in values}
    for checkbox in _CHECKBOXES:
        # An unticked checkbox is simply absent from a form post.
        data[checkbox] = checkbox in values and values[checkbox] not in ("", "off", "false")
    if not data.get("preferred_contact"):
        data.pop("preferred_contact", None)
    return data
