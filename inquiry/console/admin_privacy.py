"""The admin Privacy page: access requests (export) and erasure, as `inquiry privacy` does.

A person is named by email, phone or reference (inquiry.privacy.selector). The export is
inquiry.privacy.export's, downloaded as JSON or as the readable HTML page; erasure shows
inquiry.privacy.erase's plan first and erases only the inquiries that plan showed, once the
admin has said who asks and why. Both are audited by the privacy services themselves.
"""

from __future__ import annotations

import json
from dataclasses import replace

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import FormData

from inquiry.console.admin import ADMIN_PATH, AdminDep, admin_page
from inquiry.console.pages import Console
from inquiry.privacy import erase
from inquiry.privacy import export as access
from inquiry.privacy.selector import NotASelector, Selector, SelectorKind

router = APIRouter(prefix=ADMIN_PATH, include_in_schema=False)
_KINDS = [kind.value for kind in SelectorKind]


def _page(
    console: Console,
    *,
    entered: dict[str, str] | None = None,
    problem: str | None = None,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    return admin_page(
        console,
        "staff/admin/privacy.html",
        "privacy",
        status_code,
        kinds=_KINDS,
        entered=entered or {"kind": "email", "value": ""},
        problem=problem,
        **context,
    )


def _selector(form: FormData) -> tuple[dict[str, str], Selector | None]:
    entered = {"kind": str(form.get("kind", "")), "value": str(form.get("value", ""))[:320]}
    if entered["kind"] not in _KINDS:
        return entered, None
    try:
        return entered, Selector.parse(SelectorKind(entered["kind"]), entered["value"])
    except NotASelector:
        return entered, None


@router.get("/privacy", response_class=HTMLResponse)
async def privacy_page(console: AdminDep) -> HTMLResponse:
    """Whom a request is about, and the buttons to export or erase what is held."""
    return _page(console)


@router.post("/privacy/export")
async def export(console: AdminDep) -> Response:
    """Everything held about the person, as a JSON or HTML download (audited)."""
    form = await console.form()
    entered, selector = _selector(form)
    if selector is None:
        return _page(console, entered=entered, problem="invalid_selector", status_code=422)
    held = await access.gather(console.session, console.settings, console.caller, selector)
    if not held["inquiries"]:
        return _page(console, entered=entered, problem="nothing_held", status_code=404)
    as_html = form.get("format") == "html"
    body = (
        access.render_html(held, console.settings)
        if as_html
        else json.dumps(held, ensure_ascii=False, indent=2) + "\n"
    )
    name = f"privacy-export-{selector.kind.value}.{'html' if as_html else 'json'}"
    return Response(
        body,
        media_type="text/html; charset=utf-8" if as_html else "application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/privacy/erase/plan", response_class=HTMLResponse)
async def erase_plan(console: AdminDep) -> HTMLResponse:
    """What an erasure would remove, and the confirmation form (nothing changes yet)."""
    form = await console.form()
    entered, selector = _selector(form)
    if selector is None:
        return _page(console, entered=entered, problem="invalid_selector", status_code=422)
    planned = await erase.plan(console.session, console.settings, selector)
    if not planned.inquiries:
        return _page(console, entered=entered, problem="nothing_held", status_code=404)
    return _page(console, entered=entered, planned=planned)


@router.post("/privacy/erase", response_class=HTMLResponse)
async def erase_confirmed(console: AdminDep) -> HTMLResponse:
    """Erase the inquiries the confirmation page showed, with who asked and why."""
    form = await console.form()
    entered, selector = _selector(form)
    if selector is None:
        return _page(console, entered=entered, problem="invalid_selector", status_code=422)
    shown = {int(v) for v in form.getlist("inquiry") if isinstance(v, str) and v.isdigit()}
    planned = await erase.plan(console.session, console.settings, selector)
    planned = replace(planned, inquiries=[i for i in planned.inquiries if i.id in shown])
    erased_by, reason = str(form.get("erased_by", "")), str(form.get("reason", ""))
    if not planned.inquiries:
        return _page(console, entered=entered, problem="nothing_held", status_code=404)
    if not erased_by.strip() or not reason.strip() or len(reason) > erase.REASON_MAX_LENGTH:
        return _page(
            console, entered=entered, planned=planned, problem="erase_why", status_code=422
        )
    # The erasure runs in a transaction of its own: end this one first (SQLite has one writer).
    await console.session.commit()
    engine: AsyncEngine = console.request.app.state.engine
    try:
        result = await erase.erase(
            engine,
            console.settings,
            console.caller,
            planned,
            erased_by=erased_by[: erase.ERASED_BY_MAX_LENGTH],
            reason=reason,
        )
    except erase.InvalidErasure:
        return _page(
            console, entered=entered, planned=planned, problem="erase_why", status_code=422
        )
    return _page(console, erased=result)
