"""Metrics of `serve` and of the worker after a scripted run: each counter against what the run
did, and against what the database holds; the database gauges; labels without personal data."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.app import create_app
from inquiry.callbacks.models import attempt_table, task_table
from inquiry.config import Settings
from inquiry.db import create_engine
from inquiry.metrics import Metrics
from inquiry.models import StaffRole, as_utc, inquiry_table, outbox_table, utcnow
from inquiry.notify.worker import OutboxWorker
from inquiry.observability.gauges import DatabaseGauges
from inquiry.observability.server import MetricsServer
from inquiry.triage.taxonomy import Topic
from tests.conftest import free_port, make_settings, valid_inquiry
from tests.notify.conftest import Sink
from tests.observability.conftest import Scrape, parse, scrape_async
from tests.staff.fixtures import make_staff, seed_task

URL = "/api/v1/inquiries"
CRISIS = "I can't go on, I am thinking of ending my life tonight."
# Visitor data that no metric may ever carry.
VISITOR = {
    "name": "Geneviève Ouellette",
    "email": "genevieve.ouellette@example.ca",
    "phone": "(613) 555-0143",
    "message": "Since my lingering migraine aura began, does ketamine interact with sumatriptan?",
}
NEVER_IN_METRICS = ("Ouellette", "genevieve", "555-0143", "5550143", "migraine", "987654")


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smtp_sink: Sink) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        metrics_port=free_port(),
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port,
        oncall_emails=["oncall@ketaminetherapyclinic.ca"],
    )


@pytest.fixture
async def worker_metrics(engine: AsyncEngine) -> AsyncIterator[tuple[Metrics, int]]:
    """The metrics of a separate worker process, served on a port of their own."""
    metrics = Metrics()
    port = free_port()
    server = MetricsServer(metrics, engine, host="127.0.0.1", port=port)
    await server.start()
    yield metrics, port
    await server.stop()


async def scripted_run(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Four inquiries (one a crisis, one from the form), a replay, six refusals, a call."""

    async def post(expected: int, **request: Any) -> httpx.Response:
        response = await client.post(URL, **request)
        assert response.status_code == expected, response.text
        return response

    key = {"Idempotency-Key": "run-0000-0001"}
    await post(201, json=valid_inquiry(), headers=key)
    replay = await post(201, json=valid_inquiry(), headers=key)
    assert replay.headers["Idempotency-Replayed"] == "true"
    await post(422, json=valid_inquiry(subject="Another question"), headers=key)
    await post(201, json=valid_inquiry(message=CRISIS, email="sam@example.ca"))
    await post(201, json=valid_inquiry(preferred_contact="phone", **VISITOR))
    await post(422, content=b"{", headers={"Content-Type": "application/json"})
    await post(422, json={})
    await post(415, content=b"hello", headers={"Content-Type": "text/plain"})
    await post(403, json=valid_inquiry(), headers={"Origin": "https://elsewhere.example"})

    form = {"name": "Ann", "email": "ann@example.ca", "message": "Hello there.", "consent": "on"}
    assert (await client.post("/forms/contact", data=form)).status_code == 303
    assert (await client.post("/forms/contact", data={"name": ""})).status_code == 422

    agent = await make_staff(app, "agent@ketaminetherapyclinic.ca", StaffRole.AGENT)
    missing = await client.get("/api/v1/staff/callbacks/987654", headers=agent.headers)
    assert missing.status_code == 404
    claimed = await client.post("/api/v1/staff/callbacks/claim-next", headers=agent.headers)
    task = claimed.json()["task"]
    assert task["priority"] == "urgent"  # the crisis is called first
    attempt = await client.post(
        f"/api/v1/staff/callbacks/{task['id']}/attempts",
        json={"outcome": "no_answer", "note": ""},
        headers=agent.headers,
    )
    assert attempt.status_code == 200, attempt.text


async def rows(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]


def assert_no_visitor_data(scrape: Scrape) -> None:
    for text in NEVER_IN_METRICS:
        assert text.lower() not in scrape.text.lower(), text


class TestServeMetrics:
    async def test_counters_match_the_run_and_the_database(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await scripted_run(client, app)
        assert settings.metrics_port is not None
        served = await scrape_async(settings.metrics_port)

        accepted = served.nonzero(
            "inquiry_inquiries_accepted_total", "source", "topic", "priority", "crisis"
        )
        stored = await rows(
            engine,
            sa.select(
                inquiry_table.c.source,
                inquiry_table.c.topic,
                inquiry_table.c.priority,
                inquiry_table.c.crisis,
                sa.func.count(),
            ).group_by(*(inquiry_table.c[n] for n in ("source", "topic", "priority", "crisis"))),
        )
        assert accepted == {
            (source, topic, priority, "true" if crisis else "false"): float(count)
            for source, topic, priority, crisis, count in stored
        }
        # Four stored: the replay is not counted again.
        assert sum(accepted.values()) == 4
        assert sum(v for k, v in accepted.items() if k[3] == "true") == 1
        assert sum(v for k, v in accepted.items() if k[0] == "form") == 1

        assert served.nonzero("inquiry_refusals_total", "source", "code") == {
            ("api", "idempotency_key_reused"): 1,
            ("api", "invalid_json"): 1,
            ("api", "invalid_input"): 1,
            ("api", "unsupported_media_type"): 1,
            ("api", "origin_not_allowed"): 1,
            ("form", "invalid_input"): 1,
        }
        requests = served.nonzero("inquiry_http_requests_total", "method", "route", "status")
        assert requests[("POST", URL, "201")] == 4  # three new, one replay
        assert requests[("POST", URL, "422")] == 3
        assert requests[("POST", "/forms/contact", "303")] == 1
        # The route's template, never the path as sent.
        assert requests[("GET", "/api/v1/staff/callbacks/{task_id}", "404")] == 1
        latency = served.series("inquiry_http_request_duration_seconds_count", "method", "route")
        assert latency[("POST", URL)] == 9

        attempts = await rows(
            engine,
            sa.select(task_table.c.priority, attempt_table.c.outcome).join(
                task_table, task_table.c.id == attempt_table.c.task_id
            ),
        )
        assert served.nonzero("inquiry_callback_attempts_total", "priority", "outcome") == {
            ("urgent", "no_answer"): 1
        }
        assert attempts == [("urgent", "no_answer")]
        first_call = served.series("inquiry_callback_first_attempt_seconds_count", "priority")
        assert first_call[("urgent",)] == 1

        # The worker runs elsewhere: this process delivered nothing.
        assert served.nonzero("inquiry_outbox_deliveries_total", "kind") == {}
        assert_no_visitor_data(served)

    async def test_worker_counts_each_delivery_and_failure_by_kind(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        smtp_sink: Sink,
        worker_metrics: tuple[Metrics, int],
    ) -> None:
        await scripted_run(client, app)
        metrics, port = worker_metrics
        # The first message is refused for good, the second for now; the rest go out.
        smtp_sink.script = ["550 5.7.1 Refused by policy", "451 4.3.0 Try again later"]
        worker = OutboxWorker(engine, settings, metrics=metrics)
        attempted = await worker.drain()

        scraped = await scrape_async(port)
        outcomes = await rows(
            engine,
            sa.select(outbox_table.c.kind, outbox_table.c.status, outbox_table.c.attempts),
        )
        by_status = Counter((kind, status) for kind, status, _ in outcomes)
        delivered = scraped.nonzero("inquiry_outbox_deliveries_total", "kind")
        assert delivered == {
            (kind,): float(n) for (kind, status), n in by_status.items() if status == "sent"
        }
        failures = scraped.nonzero("inquiry_outbox_failures_total", "kind", "outcome")
        assert failures == {
            **{(k, "dead"): float(n) for (k, status), n in by_status.items() if status == "dead"},
            **{
                (k, "retry"): float(n)
                for (k, status), n in by_status.items()
                if status == "pending"
            },
        }
        assert sum(v for (_, outcome), v in failures.items() if outcome == "dead") == 1
        assert sum(v for (_, outcome), v in failures.items() if outcome == "retry") == 1
        assert sum(delivered.values()) == attempted - 2 == len(smtp_sink.received)
        first = scraped.series("inquiry_outbox_first_attempt_seconds_count", "kind")
        assert sum(first.values()) == attempted

        # The database gauges, read at this scrape.
        assert scraped.value("inquiry_ready") == 1
        assert scraped.value("inquiry_outbox_messages", status="dead") == 1
        assert scraped.value("inquiry_outbox_messages", status="pending") == 1
        assert scraped.value("inquiry_outbox_messages", status="sending") == 0
        open_tasks = scraped.nonzero("inquiry_callback_tasks_open", "priority")
        stored_tasks = await rows(
            engine,
            sa.select(task_table.c.priority, sa.func.count())
            .where(task_table.c.status.in_(["open", "claimed"]))
            .group_by(task_table.c.priority),
        )
        assert open_tasks == {(priority,): float(n) for priority, n in stored_tasks}
        # As the triage of this run's inquiries decides them: the crisis (which shares the call
        # of the same person's first inquiry), the migraine question (clinical); the greeting
        # sent by the form is general, which owes no call unless one is asked for.
        assert open_tasks == {("urgent",): 1, ("high",): 1}
        # This process answered no visitor.
        assert scraped.nonzero("inquiry_inquiries_accepted_total", "topic") == {}
        assert_no_visitor_data(scraped)


class TestDatabaseGauges:
    async def test_backlog_and_overdue_tasks_are_read_at_scrape_time(
        self, app: FastAPI, engine: AsyncEngine, settings: Settings
    ) -> None:
        now = utcnow()
        inquiry_id, _ = await seed_task(app, topic=Topic.CRISIS, at=now - timedelta(hours=2))
        await seed_task(app, topic=Topic.NEW_PATIENT, at=now - timedelta(minutes=1))
        ages = {"pending": [600, 60], "sending": [1200], "dead": [30, 40, 50], "sent": [9000]}
        async with engine.begin() as connection:
            for status, seconds in ages.items():
                for n, age in enumerate(seconds):
                    created = now - timedelta(seconds=age)
                    await connection.execute(
                        sa.insert(outbox_table).values(
                            inquiry_id=inquiry_id,
                            kind="admin_notification",
                            recipient="admin@ketaminetherapyclinic.ca",
                            message_id=f"<{status}.{n}@test>",
                            status=status,
                            attempts=0,
                            next_attempt_at=created,
                            created_at=created,
                        )
                    )
        due = dict(await rows(engine, sa.select(task_table.c.priority, task_table.c.due_at)))

        assert settings.metrics_port is not None
        scraped = await scrape_async(settings.metrics_port)
        read_at = time.time()

        assert scraped.value("inquiry_ready") == 1
        assert scraped.series("inquiry_outbox_messages", "status") == {
            ("pending",): 2,
            ("sending",): 1,
            ("dead",): 3,
        }
        oldest = scraped.value("inquiry_outbox_oldest_pending_age_seconds")
        assert oldest is not None
        assert 1200 <= oldest < 1200 + 30
        assert scraped.series("inquiry_callback_tasks_open", "priority") == {
            ("urgent",): 1,
            ("high",): 0,
            ("normal",): 1,
            ("low",): 0,
        }
        assert scraped.nonzero("inquiry_callback_tasks_overdue", "priority") == {("urgent",): 1}
        expected = read_at - as_utc(due["urgent"]).timestamp()
        overdue_for = scraped.value("inquiry_callback_oldest_overdue_seconds", priority="urgent")
        assert overdue_for is not None
        assert expected - 30 < overdue_for <= expected
        assert scraped.value("inquiry_callback_oldest_overdue_seconds", priority="normal") == 0
        newest = scraped.value("inquiry_last_inquiry_timestamp_seconds")
        assert newest is not None
        assert abs(newest - (now - timedelta(minutes=1)).timestamp()) < 1
        # A minute ago, on the clinic's calendar: at most a minute of an eight-hour day.
        quiet = scraped.value("inquiry_business_days_since_last_inquiry")
        assert quiet is not None
        assert 0 <= quiet <= 2 / (8 * 60)

    async def test_an_unreachable_database_costs_the_gauges_not_the_scrape(
        self, tmp_path: Path
    ) -> None:
        broken = make_settings(f"sqlite+aiosqlite:///{tmp_path}/missing/folder/x.db", tmp_path)
        engine = create_engine(broken)
        metrics = Metrics()
        metrics.accepted(source="api", topic="billing", priority="normal", crisis=False)
        port = free_port()
        server = MetricsServer(metrics, engine, host="127.0.0.1", port=port)
        await server.start()
        try:
            scraped = await scrape_async(port)
        finally:
            await server.stop()
            await engine.dispose()
        assert scraped.value("inquiry_ready") == 0
        assert scraped.series("inquiry_outbox_messages", "status") == {}
        assert (
            scraped.value(
                "inquiry_inquiries_accepted_total",
                source="api",
                topic="billing",
                priority="normal",
                crisis="false",
            )
            == 1
        )

    async def test_a_slow_query_is_given_up_after_the_timeout(
        self, database_url: str, engine: AsyncEngine
    ) -> None:
        if not database_url.startswith("postgresql"):
            pytest.skip("a table lock that blocks readers needs PostgreSQL")
        gauges = DatabaseGauges(engine, asyncio.get_running_loop(), timeout=0.5)
        locker = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE outbox_message IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                blocked = parse_collected(await asyncio.to_thread(lambda: list(gauges.collect())))
                waited = time.monotonic() - started
        finally:
            await locker.close()
        assert blocked.value("inquiry_ready") == 0
        assert 0.4 <= waited < 2.0  # the timeout, not the first query, ended it
        # The connection that was cut short is not handed to the next scrape broken.
        after = parse_collected(await asyncio.to_thread(lambda: list(gauges.collect())))
        assert after.value("inquiry_ready") == 1

    async def test_reading_on_the_event_loop_gives_up_instead_of_blocking_it(
        self, engine: AsyncEngine
    ) -> None:
        gauges = DatabaseGauges(engine, asyncio.get_running_loop(), timeout=5)
        started = time.monotonic()
        collected = parse_collected(list(gauges.collect()))
        assert collected.value("inquiry_ready") == 0
        assert time.monotonic() - started < 1


def parse_collected(families: list[Any]) -> Scrape:
    from prometheus_client import CollectorRegistry, generate_latest

    class Fixed:
        def collect(self) -> list[Any]:
            return families

    registry = CollectorRegistry()
    registry.register(Fixed())
    return parse(generate_latest(registry).decode())


class TestMetricsSettings:
    async def test_without_a_port_nothing_is_counted_or_served(self, tmp_path: Path) -> None:
        settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path)
        app = create_app(settings)
        assert app.state.metrics is None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/metrics")).status_code == 404

    def test_the_metrics_port_is_never_the_public_port(self) -> None:
        with pytest.raises(ValidationError, match="INQUIRY_METRICS_PORT"):
            Settings(_env_file=None, port=8000, metrics_port=8000)

    async def test_a_port_in_use_stops_start_up_with_its_name(
        self, tmp_path: Path, engine: AsyncEngine
    ) -> None:
        port = free_port()
        first = MetricsServer(Metrics(), engine, host="127.0.0.1", port=port)
        await first.start()
        try:
            with pytest.raises(RuntimeError, match="INQUIRY_METRICS_PORT"):
                await MetricsServer(Metrics(), engine, host="127.0.0.1", port=port).start()
        finally:
            await first.stop()
