"""Every move between statuses, allowed or refused, through the staff API on both databases."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from inquiry.lifecycle import TRANSITIONS
from inquiry.models import InquiryStatus
from tests.staff.fixtures import (
    FakeClock,
    StaffUser,
    audit_actions,
    inquiry_detail,
    on_inquiry,
    seed_task,
    set_status,
    toronto,
)

# The lifecycle as the clinic asked for it; "closed:spam" is quarantined spam.
ALLOWED = {
    ("new", "in_progress"),
    ("new", "waiting"),
    ("new", "closed"),
    ("in_progress", "waiting"),
    ("in_progress", "closed"),
    ("waiting", "in_progress"),
    ("waiting", "waiting"),
    ("waiting", "closed"),
    ("closed", "in_progress"),
    ("closed:spam", "in_progress"),
    ("closed:spam", "new"),
}
FROM = ["new", "in_progress", "waiting", "closed", "closed:spam"]
TO = ["new", "in_progress", "waiting", "closed"]
# START is Wednesday 3 June 2026, 10:00 in Toronto; a wait ends when the clinic opens.
UNTIL = "2026-06-10"
WAIT_ENDS = "2026-06-10T13:00:00Z"


async def inquiry_in(app: FastAPI, status: str) -> int:
    inquiry_id, _ = await seed_task(app)
    kind, _, closed_as = status.partition(":")
    if kind == "waiting":
        await set_status(app, inquiry_id, kind, waiting_until=toronto(2026, 6, 8, 9))
    elif kind == "closed":
        await set_status(app, inquiry_id, kind, close_reason=closed_as or "duplicate")
    elif kind != "new":
        await set_status(app, inquiry_id, kind)
    return inquiry_id


def asking(to: str) -> tuple[str, dict[str, Any] | None]:
    """The request that asks for this status (new: only by releasing from quarantine)."""
    if to == "new":
        return "not-spam", None
    body: dict[str, Any] = {"status": to, "note": "Spoke to the visitor"}
    if to == "waiting":
        body["until"] = UNTIL
    if to == "closed":
        body["reason"] = "withdrawn"
    return "status", body


def test_the_table_in_code_is_the_lifecycle_asked_for() -> None:
    pairs = {(a.split(":")[0], b) for a, b in ALLOWED}
    assert {(a.value, b.value) for a, b in TRANSITIONS} == pairs
    assert TRANSITIONS[(InquiryStatus.CLOSED, InquiryStatus.NEW)].only_closed_as == "spam"


@pytest.mark.parametrize("to", TO)
@pytest.mark.parametrize("start", FROM)
async def test_every_move_is_allowed_or_refused_by_the_table(
    app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, start: str, to: str
) -> None:
    inquiry_id = await inquiry_in(app, start)
    action, body = asking(to)

    response = await on_inquiry(client, agent, inquiry_id, action, body)

    detail = await inquiry_detail(client, agent, inquiry_id)
    if (start, to) not in ALLOWED:
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "transition_not_allowed"
        assert detail["status"] == start.partition(":")[0]
        assert detail["history"] == []
        assert "inquiry.status" not in [a for a, _, _ in await audit_actions(app)]
        return
    assert response.status_code == 200, response.text
    assert response.json()["status"] == detail["status"] == to
    [change] = detail["history"]
    assert (change["from_status"], change["to_status"]) == (start.partition(":")[0], to)
    assert (change["staff_id"], change["at"]) == (agent.id, "2026-06-03T14:00:00Z")
    assert ("inquiry.status", agent.id, str(inquiry_id)) in await audit_actions(app)
    if to == "closed":
        assert detail["close_reason"] == change["close_reason"] == "withdrawn"
    else:
        assert detail["close_reason"] is None
    if to == "waiting":
        assert detail["waiting_until"] == change["until"] == WAIT_ENDS
    else:
        assert detail["waiting_until"] is None
    if action == "status":
        assert change["note"] == "Spoke to the visitor"


class TestWhatAStatusNeeds:
    @pytest.mark.parametrize(
        ("body", "field", "code"),
        [
            ({"status": "new"}, "status", "invalid_choice"),
            ({"status": "closed"}, "reason", "required"),
            ({"status": "closed", "reason": "bored"}, "reason", "invalid_choice"),
            ({"status": "in_progress", "reason": "resolved"}, "reason", "not_allowed"),
            ({"status": "waiting"}, "until", "required"),
            ({"status": "closed", "reason": "resolved", "until": UNTIL}, "until", "not_allowed"),
            ({"status": "waiting", "until": "next week"}, "until", "invalid"),
            ({"status": "in_progress", "colour": "red"}, "colour", "unknown_field"),
        ],
    )
    async def test_a_malformed_status_is_422_naming_the_field(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        agent: StaffUser,
        body: dict[str, Any],
        field: str,
        code: str,
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        response = await on_inquiry(client, agent, inquiry_id, "status", body)
        assert response.status_code == 422, response.text
        assert {"field": field, "code": code} in [
            {"field": f["field"], "code": f["code"]} for f in response.json()["error"]["fields"]
        ]
        assert (await inquiry_detail(client, agent, inquiry_id))["status"] == "new"

    @pytest.mark.parametrize("until", ["2026-06-03", "2026-06-02", "2027-06-05"])
    async def test_a_wait_ends_after_today_and_within_a_year(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, until: str
    ) -> None:
        inquiry_id, _ = await seed_task(app)
        body = {"status": "waiting", "until": until}
        response = await on_inquiry(client, agent, inquiry_id, "status", body)
        assert (response.status_code, response.json()["error"]["code"]) == (
            422,
            "invalid_schedule",
        )

    async def test_today_is_the_clinics_today(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, clock: FakeClock
    ) -> None:
        """At 22:30 in Toronto it is already the next day in UTC: tomorrow is still 4 June."""
        clock.now = toronto(2026, 6, 3, 22, 30)
        inquiry_id, _ = await seed_task(app)
        today = await on_inquiry(
            client, agent, inquiry_id, "status", {"status": "waiting", "until": "2026-06-03"}
        )
        tomorrow = await on_inquiry(
            client, agent, inquiry_id, "status", {"status": "waiting", "until": "2026-06-04"}
        )
        assert today.status_code == 422
        assert tomorrow.status_code == 200, tomorrow.text
        # The clinic opens at 09:00 Toronto time (EDT): 13:00 UTC.
        assert tomorrow.json()["waiting_until"] == "2026-06-04T13:00:00Z"

    async def test_an_unknown_inquiry_is_404(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        response = await on_inquiry(client, agent, 999, "status", {"status": "in_progress"})
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
