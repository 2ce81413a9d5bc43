"""Finding inquiries: references wherever an id is taken, the search, and unknown parameters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import valid_inquiry
from tests.staff.fixtures import StaffUser, inquiry_detail, on_inquiry, seed_task

S = "/api/v1/staff"


async def submitted(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/api/v1/inquiries", json=valid_inquiry(**body))
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    return reference


async def found(client: httpx.AsyncClient, user: StaffUser, **params: str) -> list[str]:
    response = await client.get(f"{S}/inquiries", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return [i["reference"] for i in response.json()["inquiries"]]


class TestReferences:
    async def test_every_inquiry_route_takes_the_reference_as_well_as_the_id(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        reference = await submitted(client, website="x")  # quarantined, to release it
        inquiry_id = (await inquiry_detail(client, agent, reference))["id"]
        for key in (reference, reference.lower(), reference.replace("-", ""), inquiry_id):
            assert (await inquiry_detail(client, agent, key))["reference"] == reference
        calls: list[tuple[str, dict[str, Any] | None]] = [
            ("not-spam", None),
            ("triage", {"topic": "billing", "reason": "Asked about receipts"}),
            ("notes", {"text": "Will call back."}),
            ("assign", {"staff_id": agent.id}),
            ("status", {"status": "closed", "reason": "resolved"}),
        ]
        for action, body in calls:
            response = await on_inquiry(client, agent, reference.lower(), action, body)
            assert response.status_code in (200, 201), (action, response.text)
        detail = await inquiry_detail(client, agent, reference)
        assert (detail["status"], detail["topic"], detail["assignee_id"]) == (
            "closed",
            "billing",
            agent.id,
        )
        assert len(detail["notes"]) == 1

    @pytest.mark.parametrize(("key", "status"), [("INQ-ZZZZZZ", 404), ("999", 404)])
    async def test_an_unknown_reference_or_id_is_404(
        self, client: httpx.AsyncClient, agent: StaffUser, key: str, status: int
    ) -> None:
        response = await client.get(f"{S}/inquiries/{key}", headers=agent.headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, "not_found")

    @pytest.mark.parametrize("key", ["abc", "INQ-12", "INQ-1234567", "12345678901", "-1"])
    async def test_something_that_is_neither_is_422(
        self, client: httpx.AsyncClient, agent: StaffUser, key: str
    ) -> None:
        response = await client.get(f"{S}/inquiries/{key}", headers=agent.headers)
        assert response.status_code == 422

    async def test_the_audit_log_finds_an_inquirys_entries_by_its_reference(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser, admin: StaffUser
    ) -> None:
        reference = await submitted(client)
        await inquiry_detail(client, agent, reference)
        response = await client.get(
            f"{S}/audit",
            params={"target_type": "inquiry", "target_id": reference},
            headers=admin.headers,
        )
        assert [(e["action"], e["staff_id"]) for e in response.json()] == [
            ("inquiry.read", agent.id)
        ]


class TestSearch:
    @pytest.mark.parametrize(
        "written",
        ["416.555.0123", "+1 416 555 0123", "1-416-555-0123", "4165550123", "(416)5550123"],
    )
    async def test_a_phone_number_is_found_however_it_is_written(
        self, client: httpx.AsyncClient, agent: StaffUser, written: str
    ) -> None:
        reference = await submitted(client, phone="(416) 555-0123")
        await submitted(client, phone="(416) 555-0199", email="other@example.ca")
        assert await found(client, agent, q=written) == [reference]

    @pytest.mark.parametrize("written", ["555-0123", "416 555 0100", "12"])
    async def test_another_or_a_partial_number_finds_nothing(
        self, client: httpx.AsyncClient, agent: StaffUser, written: str
    ) -> None:
        await submitted(client, phone="(416) 555-0123")
        assert await found(client, agent, q=written) == []

    async def test_an_email_address_is_found_whatever_its_case(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        reference = await submitted(client, email="Marie.Tremblay@Example.CA")
        await submitted(client, email="marie@example.ca")
        for written in ("marie.tremblay@example.ca", " MARIE.TREMBLAY@EXAMPLE.CA "):
            assert await found(client, agent, q=written) == [reference]

    @pytest.mark.parametrize(
        ("written", "hit"),
        [
            ("helene", True),
            ("Hélène", True),
            ("HEL", True),
            ("obrien", True),
            ("O'Brien", True),
            ("tremblay hel", True),
            ("Hélène O'Brien-Tremblay", True),
            ("brien", False),
            ("helene roy", False),
            ("marie", False),
        ],
    )
    async def test_a_name_is_found_by_the_start_of_its_words_without_accents_or_case(
        self, client: httpx.AsyncClient, agent: StaffUser, written: str, hit: bool
    ) -> None:
        reference = await submitted(client, name="Hélène O'Brien-Tremblay")
        await submitted(client, name="Marc Roy", email="marc@example.ca")
        assert await found(client, agent, q=written) == ([reference] if hit else [])

    async def test_a_reference_is_found_as_staff_write_it(
        self, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        reference = await submitted(client)
        await submitted(client, email="other@example.ca")
        spoken = "inq " + reference.removeprefix("INQ-").lower()
        assert await found(client, agent, q=spoken) == [reference]

    async def test_the_search_goes_with_the_other_filters_and_a_blank_one_is_none(
        self, app: FastAPI, client: httpx.AsyncClient, agent: StaffUser
    ) -> None:
        first = await submitted(client, name="Dana Smith", email="dana1@example.ca")
        second = await submitted(client, name="Dana Smith", email="dana2@example.ca")
        await on_inquiry(client, agent, first, "status", {"status": "in_progress"})
        assert await found(client, agent, q="dana smith") == [second, first]
        assert await found(client, agent, q="dana", status="in_progress") == [first]
        assert len(await found(client, agent, q="  ")) == 2
        await seed_task(app)
        assert len(await found(client, agent)) == 3


STAFF_ROUTES = [
    "/inquiries",
    "/callbacks",
    "/audit",
    "/accounts",
    "/accounts/{admin}/tokens",
    "/exports/inquiries.csv",
    "/me",
]


class TestUnknownParameters:
    @pytest.mark.parametrize("route", STAFF_ROUTES)
    async def test_an_unknown_query_parameter_is_422_naming_it(
        self, client: httpx.AsyncClient, admin: StaffUser, route: str
    ) -> None:
        path = S + route.format(admin=admin.id)
        response = await client.get(
            f"{path}?reference=INQ-7F3K9Q&limit=5&colour=red", headers=admin.headers
        )
        assert response.status_code == 422, response.text
        fields = response.json()["error"]["fields"]
        expected = ["query.reference", "query.colour"]
        if route in ("/accounts", "/accounts/{admin}/tokens", "/me", "/exports/inquiries.csv"):
            expected.insert(1, "query.limit")
        assert [f["field"] for f in fields] == expected
        assert {f["code"] for f in fields} == {"unknown_parameter"}

    @pytest.mark.parametrize("route", ["/me/password", "/me/two-factor"])
    async def test_an_unknown_query_parameter_on_an_account_post_is_422(
        self, client: httpx.AsyncClient, admin: StaffUser, route: str
    ) -> None:
        response = await client.post(f"{S}{route}?colour=red", headers=admin.headers, json={})
        assert response.status_code == 422, response.text
        fields = response.json()["error"]["fields"]
        assert [f["field"] for f in fields] == ["query.colour"]

    async def test_the_parameters_a_route_takes_pass(
        self, client: httpx.AsyncClient, admin: StaffUser
    ) -> None:
        for query in (
            "/inquiries?status=new&status=waiting&q=Dana&assignee=me&limit=5&offset=0",
            "/callbacks?status=open&mine=false&limit=5",
            "/audit?action=inquiry.read&limit=5",
        ):
            response = await client.get(S + query, headers=admin.headers)
            assert response.status_code == 200, (query, response.text)

    async def test_without_a_token_it_is_401_first(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{S}/inquiries?reference=x")
        assert response.status_code == 401
