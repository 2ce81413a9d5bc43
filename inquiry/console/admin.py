"""What every admin console page shares: the admin-only guard, the admin words, the sub-menu.

Admin pages live under /staff/admin and call the same services as the staff API's admin
routes, so reads and changes are audited the same way. An agent who opens one gets a page
saying it is for admins (403), and nothing is read or changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from inquiry.auth import CONSOLE_PATH
from inquiry.console.admin_text import ADMIN_TEXT
from inquiry.console.pages import Console, ConsoleDep, render
from inquiry.models import StaffRole
from inquiry.web.i18n import Language

ADMIN_PATH = f"{CONSOLE_PATH}/admin"
# The admin pages in the order of their sub-menu: (path under ADMIN_PATH, word in ADMIN_TEXT).
SECTIONS = (
    ("staff", "staff_title"),
    ("mail", "mail_title"),
    ("audit", "audit_title"),
    ("spam", "spam_title"),
    ("triage", "triage_title"),
    ("exports", "exports_title"),
    ("privacy", "privacy_title"),
)


class AdminOnly(Exception):
    """A console page for admins, asked for by an agent."""

    def __init__(self, language: Language) -> None:
        super().__init__("admin only")
        self.language = language


async def admin_console(console: ConsoleDep) -> Console:
    """The console request of an admin; anyone else is refused before anything is read."""
    if console.staff.role != StaffRole.ADMIN:
        raise AdminOnly(console.language)
    return console


AdminDep = Annotated[Console, Depends(admin_console)]


def admin_page(
    console: Console, template: str, section: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """An admin page, with the admin words (`a`) and the sub-menu marking `section`."""
    return console.page(
        template,
        status_code,
        a=ADMIN_TEXT[console.language],
        sections=SECTIONS,
        section=section,
        admin_path=ADMIN_PATH,
        **context,
    )


def install_admin_handlers(app: FastAPI) -> None:
    """Answer an agent on an admin page with a page, never JSON."""

    async def admin_only(request: Request, error: Exception) -> Response:
        assert isinstance(error, AdminOnly)
        return render(request, "staff/problem.html", error.language, 403, problem="problem_admin")

    app.add_exception_handler(AdminOnly, admin_only)
