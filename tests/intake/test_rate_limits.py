"""Rate limits per client address and per email address, in memory and in Redis."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import Settings
from inquiry.models import inquiry_table
from inquiry.proxies import client_ip, parse_networks
from tests.conftest import REDIS_URL, make_settings, valid_inquiry
from tests.intake.conftest import URL, count, started


@pytest.fixture
def limited_settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        rate_limit_enabled=True,
        rate_limit_per_ip="3/minute",
        rate_limit_per_email="2/hour",
        trusted_proxies=["10.0.0.0/8"],
    )


def other_email(n: int) -> dict[str, Any]:
    return valid_inquiry(email=f"visitor{n}@example.ca")


class TestRateLimits:
    async def test_fourth_post_from_one_address_gets_429_with_retry_after(
        self, limited_settings: Settings, engine: AsyncEngine
    ) -> None:
        async for client in started(limited_settings):
            statuses = [(await client.post(URL, json=other_email(n))).status_code for n in range(4)]
            refused = await client.post(URL, json=other_email(9))

        assert statuses == [201, 201, 201, 429]
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert await count(engine, inquiry_table) == 3

    async def test_third_post_for_one_email_gets_429_across_addresses(
        self, limited_settings: Settings
    ) -> None:
        async for client in started(limited_settings, peer="10.0.0.5"):
            statuses = [
                (
                    await client.post(
                        URL, json=valid_inquiry(), headers={"X-Forwarded-For": f"192.0.2.{n}"}
                    )
                ).status_code
                for n in range(3)
            ]
        assert statuses == [201, 201, 429]

    async def test_email_limit_ignores_letter_case(self, limited_settings: Settings) -> None:
        async for client in started(limited_settings):
            a = await client.post(URL, json=valid_inquiry(email="Sam@Example.ca"))
            b = await client.post(URL, json=valid_inquiry(email="sam@example.ca"))
            c = await client.post(URL, json=valid_inquiry(email="SAM@example.ca"))
        assert [a.status_code, b.status_code, c.status_code] == [201, 201, 429]

    async def test_hosted_form_shows_a_friendly_429(self, limited_settings: Settings) -> None:
        form = {"name": "A", "email": "a@example.ca", "message": "m", "consent": "true"}
        async for client in started(limited_settings):
            for n in range(3):
                await client.post("/forms/contact", data={**form, "email": f"a{n}@example.ca"})
            response = await client.post("/forms/contact", data=form)
        assert response.status_code == 429
        assert "retry-after" in response.headers
        assert "Too many messages were sent from here" in response.text
        assert 'value="a@example.ca"' in response.text

    async def test_limits_are_off_when_disabled(self, settings: Settings) -> None:
        async for client in started(settings):
            statuses = {
                (await client.post(URL, json=valid_inquiry())).status_code for _ in range(12)
            }
        assert statuses == {201}

    async def test_forwarded_address_counts_only_behind_a_trusted_proxy(
        self, limited_settings: Settings
    ) -> None:
        async for client in started(limited_settings, peer="10.0.0.5"):
            # Behind our proxy, each visitor is counted on their own address.
            for n in range(4):
                response = await client.post(
                    URL, json=other_email(n), headers={"X-Forwarded-For": f"192.0.2.{n}"}
                )
                assert response.status_code == 201
        async for client in started(limited_settings, peer="203.0.113.50"):
            # A client that is not our proxy cannot dodge the limit with a forged header.
            statuses = [
                (
                    await client.post(
                        URL, json=other_email(n), headers={"X-Forwarded-For": f"192.0.2.{n}"}
                    )
                ).status_code
                for n in range(4)
            ]
        assert statuses == [201, 201, 201, 429]


class TestSharedLimits:
    async def test_replicas_share_limits_through_redis(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = make_settings(
            database_url,
            tmp_path,
            rate_limit_enabled=True,
            rate_limit_per_ip="100/minute",
            rate_limit_per_email="2/hour",
            rate_limit_storage_url=REDIS_URL,
        )
        email = f"shared-{uuid.uuid4().hex[:8]}@example.ca"
        statuses = []
        for _replica in range(3):
            async for client in started(settings):
                statuses.append(
                    (await client.post(URL, json=valid_inquiry(email=email))).status_code
                )
        assert statuses == [201, 201, 429]


class TestClientAddress:
    trusted = parse_networks(["10.0.0.0/8", "::1/128"])

    def test_direct_peer_is_the_client(self) -> None:
        assert client_ip("198.51.100.1", "192.0.2.1", self.trusted) == "198.51.100.1"

    def test_rightmost_untrusted_hop_is_the_client(self) -> None:
        chain = "192.0.2.66, 198.51.100.7, 10.1.1.1"
        assert client_ip("10.0.0.1", chain, self.trusted) == "198.51.100.7"

    def test_garbage_in_the_chain_is_not_trusted(self) -> None:
        assert client_ip("10.0.0.1", "not-an-ip", self.trusted) == "not-an-ip"


class TestLimiterStoreDown:
    async def test_inquiries_are_accepted_when_the_counter_store_is_down(
        self, database_url: str, tmp_path: Path, engine: AsyncEngine
    ) -> None:
        settings = make_settings(
            database_url,
            tmp_path,
            rate_limit_enabled=True,
            rate_limit_storage_url="redis://127.0.0.1:1",  # nothing listens there
        )
        async for client in started(settings):
            api = await client.post(URL, json=valid_inquiry())
            form = await client.post(
                "/forms/contact",
                data={"name": "A", "email": "a@example.ca", "message": "m", "consent": "true"},
            )
        assert api.status_code == 201
        assert form.status_code == 303
        assert await count(engine, inquiry_table) == 2


class TestCrisisIsNeverTurnedAway:
    async def test_email_limit_does_not_apply_to_crisis_messages(
        self, limited_settings: Settings, engine: AsyncEngine
    ) -> None:
        crisis = valid_inquiry(message="I can't do this anymore, I want to kill myself.")
        async for client in started(limited_settings, peer="10.0.0.5"):
            statuses = [
                (
                    await client.post(URL, json=crisis, headers={"X-Forwarded-For": f"192.0.2.{n}"})
                ).status_code
                for n in range(4)
            ]
        assert statuses == [201, 201, 201, 201]  # the email limit is 2/hour
        assert await count(engine, inquiry_table) == 4

    async def test_form_over_the_email_limit_keeps_the_input_and_the_crisis_banner(
        self, limited_settings: Settings
    ) -> None:
        form = {"name": "Sam", "email": "sam@example.ca", "message": "hello", "consent": "true"}
        async for client in started(limited_settings, peer="10.0.0.5"):
            for n in range(2):
                sent = await client.post(
                    "/forms/contact",
                    data={**form, "message": f"hello {n}"},
                    headers={"X-Forwarded-For": f"192.0.2.{n}"},
                )
                assert sent.status_code == 303
            refused = await client.post(
                "/forms/contact", data=form, headers={"X-Forwarded-For": "192.0.2.9"}
            )
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert 'value="sam@example.ca"' in refused.text
        assert "9-8-8" in refused.text


class TestRetriesOverTheLimit:
    async def test_a_stored_request_retried_over_the_email_limit_gets_its_answer(
        self, limited_settings: Settings, engine: AsyncEngine
    ) -> None:
        key = {"Idempotency-Key": "retry-after-timeout-1"}

        def via(n: int) -> dict[str, str]:  # a different address each time: only the email counts
            return {"X-Forwarded-For": f"192.0.2.{n}"}

        async for client in started(limited_settings, peer="10.0.0.5"):
            first = await client.post(
                URL, json=valid_inquiry(subject="First"), headers={**key, **via(1)}
            )
            await client.post(URL, json=valid_inquiry(subject="Second"), headers=via(2))
            retried = await client.post(
                URL, json=valid_inquiry(subject="First"), headers={**key, **via(3)}
            )
            fresh = await client.post(URL, json=valid_inquiry(subject="Third"), headers=via(4))
        assert first.status_code == retried.status_code == 201
        assert retried.json()["reference"] == first.json()["reference"]
        assert retried.headers["idempotency-replayed"] == "true"
        assert fresh.status_code == 429  # the email limit (2/hour) holds for new inquiries
        assert await count(engine, inquiry_table) == 2
