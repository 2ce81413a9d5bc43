"""The staff console: server-rendered pages under /staff over the staff and callback services."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse

from inquiry.auth import CONSOLE_PATH
from inquiry.console import (
    account,
    admin_audit,
    admin_exports,
    admin_mail,
    admin_privacy,
    admin_spam,
    admin_staff,
    admin_triage,
    calls,
    dashboard,
    finding,
    inquiries,
    signin,
)
from inquiry.console.admin import install_admin_handlers
from inquiry.console.pages import install_handlers

STATIC = Path(__file__).parent / "static"
_static = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)


@_static.get("/static/console.js")
async def console_script() -> FileResponse:
    """The console's one script: the queue refreshing itself. Every page works without it."""
    return FileResponse(
        STATIC / "console.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


def install(app: FastAPI) -> None:
    """Add the console's pages and its answers to signed-out and refused requests."""
    for router in (
        signin.router,
        calls.router,
        finding.router,
        inquiries.router,
        account.router,
        dashboard.router,
        _static,
    ):
        app.include_router(router)
    admin = (
        admin_staff,
        admin_mail,
        admin_audit,
        admin_spam,
        admin_triage,
        admin_exports,
        admin_privacy,
    )
    for page in admin:
        app.include_router(page.router)
    install_handlers(app)
    install_admin_handlers(app)
