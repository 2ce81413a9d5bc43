"""The admin Triage page: the rules file in use, and a tester that triages pasted text.

The tester runs the same pure function intake runs (inquiry.triage.triage) with the rules in
use; nothing typed is stored, logged or audited.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from inquiry.console.admin import ADMIN_PATH, AdminDep, admin_page
from inquiry.console.pages import Console
from inquiry.triage import Topic, TriageResult, default_rules, last_reload_error, triage
from inquiry.triage.taxonomy import VISITOR_TOPICS

router = APIRouter(prefix=ADMIN_PATH, include_in_schema=False)
SUBJECT_MAX = 200
MESSAGE_MAX = 5000


def _page(
    console: Console,
    *,
    result: TriageResult | None = None,
    entered: dict[str, str] | None = None,
    too_long: bool = False,
) -> HTMLResponse:
    return admin_page(
        console,
        "staff/admin/triage.html",
        "triage",
        422 if too_long else 200,
        rules=default_rules(),
        reload_error=last_reload_error(),
        visitor_topics=sorted(topic.value for topic in VISITOR_TOPICS),
        result=result,
        entered=entered or {"subject": "", "message": "", "topic": ""},
        too_long=too_long,
        message_max=MESSAGE_MAX,
    )


@router.get("/triage", response_class=HTMLResponse)
async def triage_page(console: AdminDep) -> HTMLResponse:
    """Which rules file triage uses, when it was read, and the last reload's error."""
    return _page(console)


@router.post("/triage", response_class=HTMLResponse)
async def triage_tester(console: AdminDep) -> HTMLResponse:
    """Triage the pasted subject and message as intake would, storing nothing."""
    form = await console.form()
    entered = {key: str(form.get(key, "")) for key in ("subject", "message", "topic")}
    if len(entered["subject"]) > SUBJECT_MAX or len(entered["message"]) > MESSAGE_MAX:
        return _page(console, entered=entered, too_long=True)
    chosen = entered["topic"]
    visitor_topic = Topic(chosen) if chosen in {t.value for t in VISITOR_TOPICS} else None
    result = triage(entered["subject"], entered["message"], visitor_topic)
    return _page(console, result=result, entered=entered)
