"""The admin Mail page: the outbox's backlog, the messages that failed, and retrying them.

A retry requeues dead messages in the request's transaction (with its audit entry) and wakes
the workers as `inquiry outbox retry` does: a worker in this process once the request commits,
workers on PostgreSQL by NOTIFY, a separate worker on SQLite at its next poll.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from inquiry import outbox
from inquiry.audit import record
from inquiry.console.admin import ADMIN_PATH, AdminDep, admin_page
from inquiry.console.pages import redirect
from inquiry.models import MAX_ROW_ID, OutboxStatus
from inquiry.staff.search import reference_in

router = APIRouter(prefix=ADMIN_PATH, include_in_schema=False)
MAIL_PATH = f"{ADMIN_PATH}/mail"
DEAD_SHOWN = 200  # the newest failed messages; bulk retry takes every one, shown or not
MAX_SELECTED = 500


@router.get("/mail", response_class=HTMLResponse)
async def mail_page(
    console: AdminDep,
    reference: Annotated[str, Query(max_length=40)] = "",
    retried: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
) -> HTMLResponse:
    """Counts by status, the oldest message waiting, the failed ones; one inquiry's mail."""
    connection = await console.session.connection()
    backlog = await outbox.backlog(connection)
    dead = await outbox.messages(connection, status=OutboxStatus.DEAD, limit=DEAD_SHOWN)
    wanted = reference_in(reference) if reference else None
    history = None
    if wanted is not None:
        history = await outbox.messages(connection, reference=wanted, limit=500)
        record(console.session, console.caller, "outbox.history", reference=wanted)
    return admin_page(
        console,
        "staff/admin/mail.html",
        "mail",
        422 if reference and wanted is None else 200,
        backlog=backlog,
        dead=dead,
        reference=wanted or reference,
        history=history,
        bad_reference=bool(reference) and wanted is None,
        retried=retried,
    )


@router.post("/mail/retry")
async def retry(console: AdminDep) -> Response:
    """Queue one failed message, the selected ones, or every failed one, again."""
    form = await console.form()
    chosen: list[int] | None
    if form.get("all") == "1":
        chosen = None
    else:
        values = [form.get("id")] if form.get("id") is not None else form.getlist("selected")
        chosen = [int(v) for v in values if isinstance(v, str) and v.isdigit() and len(v) < 12]
        chosen = [pk for pk in chosen if 1 <= pk <= MAX_ROW_ID][:MAX_SELECTED]
        if not chosen:
            return redirect(MAIL_PATH, retried="0")
    connection = await console.session.connection()
    requeued = await outbox.requeue_dead(connection, chosen, now=console.caller.now)
    if requeued:
        record(console.session, console.caller, "outbox.retry", messages=requeued)
    return redirect(MAIL_PATH, retried=str(len(requeued)))
