"""The dashboard (`/staff/dashboard`, every staff member): how the team is keeping up.

The figures are inquiry.staff.dashboard's aggregate queries; the charts are drawn by the
template as SVG (no script), each with the same figures in a table for screen readers.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from inquiry.auth import CONSOLE_PATH
from inquiry.console.admin_text import ADMIN_TEXT
from inquiry.console.pages import ConsoleDep
from inquiry.staff.dashboard import dashboard

router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)
# One colour a topic, told apart by more than hue for print (the table holds the figures).
TOPIC_COLOURS = {
    "crisis": "#a4161a",
    "clinical": "#1f5f7a",
    "new_patient": "#2d7d46",
    "appointment": "#6a4c93",
    "billing": "#b35c00",
    "referral": "#0b7285",
    "general": "#4d5b66",
    "spam": "#c9d3da",
}

PRIORITY_COLOURS = {"urgent": "#a4161a", "high": "#b35c00", "normal": "#1f5f7a", "low": "#4d5b66"}


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(console: ConsoleDep) -> HTMLResponse:
    """Inquiries a day by topic, open and overdue calls, how quickly the team answers
    (service level, time to first attempt, crisis inquiries), mail health."""
    figures = await dashboard(
        console.session,
        zone=ZoneInfo(console.settings.clinic_timezone),
        now=console.credentials.now,
    )
    return console.page(
        "staff/dashboard.html",
        a=ADMIN_TEXT[console.language],
        figures=figures,
        colours=TOPIC_COLOURS,
        priority_colours=PRIORITY_COLOURS,
    )
