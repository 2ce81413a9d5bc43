"""Nothing lost, nothing sent twice: retries, dead letters, leases, crashes, several workers."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inquiry import outbox
from inquiry.app import create_app
from inquiry.config import Settings
from inquiry.db import create_engine
from inquiry.models import as_utc, outbox_table, utcnow
from inquiry.notify import worker as worker_module
from inquiry.notify.render import OutgoingEmail
from inquiry.notify.run import outbox_command
from inquiry.notify.transports import SmtpMailer
from inquiry.notify.worker import OutboxWorker, retry_delay
from inquiry.outbox import Result
from tests.conftest import free_port, make_settings, valid_inquiry
from tests.notify.conftest import (
    Clock,
    RecordingHandler,
    Sink,
    drain,
    smtp_settings,
    statuses,
    submit,
)


def bodies(n: int) -> list[dict[str, object]]:
    return [valid_inquiry(email=f"visitor{i}@example.ca") for i in range(n)]


async def rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        result = await connection.execute(sa.select(outbox_table).order_by(outbox_table.c.id))
        return [dict(row._mapping) for row in result]


def slow_writes(monkeypatch: pytest.MonkeyPatch, *, seconds: float) -> None:
    """Every write of results waits first, as on a busy database."""
    real_record = outbox.record

    async def slow_record(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(seconds)
        await real_record(*args, **kwargs)

    monkeypatch.setattr(outbox, "record", slow_record)


async def lapse_leases(engine: AsyncEngine) -> None:
    """Let every lease in the database lapse, as the database's clock passing them would."""
    async with engine.begin() as connection:
        await connection.execute(
            sa.update(outbox_table)
            .where(outbox_table.c.status == "sending")
            .values(claimed_until=utcnow() - timedelta(hours=1))
        )


async def until_sent(engine: AsyncEngine, count: int) -> None:
    """Wait (up to 5 s) until `count` rows are recorded as sent."""
    for _ in range(250):
        if Counter(s for _, s, _ in await statuses(engine))["sent"] >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} rows were not recorded as sent in time")


def assert_each_delivered_once(sink: Sink, expected: int) -> None:
    ids = Counter(sink.message_ids())
    assert len(ids) == expected
    assert set(ids.values()) == {1}, [i for i, n in ids.items() if n > 1]


class TestRetries:
    def test_backoff_starts_within_a_minute_and_is_capped_at_an_hour(self) -> None:
        rng = random.Random(7)
        first = [retry_delay(1, rng).total_seconds() for _ in range(200)]
        late = [retry_delay(30, rng).total_seconds() for _ in range(200)]
        assert 15 <= min(first)
        assert max(first) <= 30
        assert 1800 <= min(late)
        assert max(late) <= 3600
        assert len(set(first)) > 100  # jittered, so retries do not stampede together

    @pytest.mark.parametrize("answer", ["451 4.3.0 Try again later", "421 4.7.0 Closing"])
    async def test_temporary_refusal_is_retried_then_delivered_once(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine, answer: str
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        await submit(settings, valid_inquiry())
        smtp_sink.script = [answer]
        clock = Clock()

        await drain(engine, settings, clock)
        [admin, ack] = await rows(engine)
        assert (admin["status"], admin["attempts"]) == ("pending", 1)
        assert answer.split()[0] in str(admin["last_error"])
        wait = (as_utc(admin["next_attempt_at"]) - clock.now).total_seconds()  # type: ignore[arg-type]
        assert 15 <= wait <= 30
        assert ack["status"] == "sent"

        assert await drain(engine, settings, clock) == 0  # not due yet
        clock.advance(seconds=31)
        await drain(engine, settings, clock)
        assert [s for _, s, _ in await statuses(engine)] == ["sent", "sent"]
        assert_each_delivered_once(smtp_sink, 2)

    async def test_permanent_refusal_is_dead_at_once_and_can_be_requeued(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        await submit(settings, valid_inquiry())
        smtp_sink.script = ["550 5.1.1 No such mailbox"]
        await drain(engine, settings)
        assert await statuses(engine) == [
            ("admin_notification", "dead", 1),
            ("visitor_acknowledgement", "sent", 1),
        ]

        listing = io.StringIO()
        args = argparse.Namespace(outbox_command="list", status="dead", limit=10)
        assert await outbox_command(settings, args, listing) == 0
        [line] = listing.getvalue().splitlines()
        assert "admin_notification" in line
        assert "550" in line
        dead_id = int(line.split()[0])

        stats = io.StringIO()
        await outbox_command(settings, argparse.Namespace(outbox_command="stats"), stats)
        assert json.loads(stats.getvalue())["dead"] == 1

        out = io.StringIO()
        retry = argparse.Namespace(outbox_command="retry", id=dead_id)
        assert await outbox_command(settings, retry, out) == 0
        assert await outbox_command(settings, retry, io.StringIO()) == 1  # no longer dead
        await drain(engine, settings)
        assert [s for _, s, _ in await statuses(engine)] == ["sent", "sent"]

    async def test_gives_up_after_the_lifetime(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_max_lifetime_hours=48)
        await submit(settings, valid_inquiry(email=None, preferred_contact="phone"))
        clock = Clock()
        clock.advance(hours=48, seconds=1)
        smtp_sink.script = ["451 still down"]
        await drain(engine, settings, clock)
        [row] = await rows(engine)
        assert row["status"] == "dead"
        assert "gave up after 2 days" in str(row["last_error"])

    async def test_server_down_then_up_delivers_everything_once(
        self, database_url: str, tmp_path: Path, engine: AsyncEngine
    ) -> None:
        port = free_port()
        sink = Sink(port=port)
        settings = smtp_settings(database_url, tmp_path, sink)
        await submit(settings, *bodies(5))
        clock = Clock()

        await drain(engine, settings, clock)  # nobody listens on the port
        assert {(s, a) for _, s, a in await statuses(engine)} == {("pending", 1)}

        from aiosmtpd.controller import Controller

        controller = Controller(RecordingHandler(sink), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            clock.advance(minutes=1)
            await drain(engine, settings, clock)
        finally:
            controller.stop()
        assert {s for _, s, _ in await statuses(engine)} == {"sent"}
        assert_each_delivered_once(sink, 10)


class TestBatches:
    @pytest.mark.parametrize("notified", [True, False], ids=["notified", "not-notified"])
    async def test_a_crisis_committed_mid_drain_overtakes_the_batch_claimed_ahead(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        notified: bool,
    ) -> None:
        settings = await two_a_batch(database_url, tmp_path, smtp_sink, 4)  # 8 messages
        crisis = valid_inquiry(message="I have a plan to kill myself this weekend.")
        references: list[str] = []

        async def crisis_arrives(sent: int) -> None:
            if sent == 1:  # while the first batch is sent, the next one claimed
                references.extend(await submit(settings, crisis))
                if notified:  # as the intake's commit or PostgreSQL's NOTIFY does
                    worker.notify()

        # The real clock: the crisis is queued at the time it arrives.
        worker = hooked_worker(engine, settings, crisis_arrives)
        await worker.drain()

        sent = smtp_sink.message_ids()
        assert len(sent) == 11
        [reference] = references
        crisis_at = [n for n, message_id in enumerate(sent) if reference in message_id]
        # The batch in hand finishes; then the crisis's admin copy, acknowledgement and alert,
        # ahead of the batch claimed before it came. Unannounced, it waits for that batch.
        assert crisis_at == ([2, 3, 4] if notified else [4, 5, 6]), sent

    async def test_consecutive_batches_share_one_connection(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_batch_size=4)
        await submit(settings, *bodies(7))  # 14 messages: four batches

        assert await drain(engine, settings) == 14

        assert_each_delivered_once(smtp_sink, 14)
        assert len(set(smtp_sink.peers)) == 1

    async def test_a_drain_ends_after_its_time_and_leaves_nothing_in_hand(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_batch_size=4)
        await submit(settings, *bodies(5))  # 10 messages
        monkeypatch.setattr(worker_module, "DRAIN_SECONDS", 0.0)

        # Out of time at once: the batch in hand is finished and nothing is claimed ahead.
        assert await drain(engine, settings) == 4
        assert Counter(s for _, s, _ in await statuses(engine)) == {"sent": 4, "pending": 6}
        assert await drain(engine, settings) == 4
        assert await drain(engine, settings) == 2
        assert_each_delivered_once(smtp_sink, 10)

    async def test_a_batch_that_fails_hands_back_the_one_claimed_ahead(
        self, database_url: str, tmp_path: Path, engine: AsyncEngine
    ) -> None:
        blocked = tmp_path / "not-a-folder"
        blocked.write_text("the .eml files cannot be written under a file")
        settings = make_settings(database_url, tmp_path, mail_dir=blocked, outbox_batch_size=2)
        await submit(settings, *bodies(2))  # 4 messages: two batches

        with pytest.raises(FileExistsError):
            await drain(engine, settings)

        found = Counter(status for _, status, _ in await statuses(engine))
        # The failed batch waits for its lease; the batch claimed ahead is due again at once.
        assert found == {"sending": 2, "pending": 2}


async def two_a_batch(database_url: str, tmp_path: Path, sink: Sink, inquiries: int) -> Settings:
    """Inquiries submitted; the worker takes two messages (one inquiry's) a batch, 40 s leases."""
    settings = smtp_settings(
        database_url, tmp_path, sink, outbox_batch_size=2, outbox_lease_seconds=40
    )
    await submit(settings, *bodies(inquiries))
    return settings


def hooked_worker(
    engine: AsyncEngine,
    settings: Settings,
    after: Callable[[int], Awaitable[None]],
    clock: Callable[[], datetime] = utcnow,
) -> OutboxWorker:
    """A worker over real SMTP that calls `after(n)` once the n-th message (from 1) is
    accepted."""
    sent = 0

    class Hooked(SmtpMailer):
        async def send(self, email: OutgoingEmail) -> None:
            nonlocal sent
            await super().send(email)
            sent += 1
            await after(sent)

    return OutboxWorker(engine, settings, clock=clock, mailer_factory=lambda: Hooked(settings))


async def drain_with_hook(
    engine: AsyncEngine, settings: Settings, clock: Clock, after: Callable[[int], Awaitable[None]]
) -> int:
    """Drain over real SMTP, calling `after(n)` once the n-th message (from 1) is accepted."""
    return await hooked_worker(engine, settings, after, clock).drain()


class TestBatchLeases:
    @pytest.mark.parametrize(
        ("lapses_after", "write_seconds"),
        [
            # The first batch's last message outlasts a lease (an SMTP timeout): the batch
            # claimed meanwhile has lapsed by the time its turn comes.
            pytest.param(2, 0.0, id="claimed-ahead"),
            # The second batch's lease lapses once its first message is accepted, while the
            # claim of the third waits for the first batch's (slow) last write.
            pytest.param(3, 0.2, id="while-written"),
        ],
    )
    async def test_a_lapsed_lease_sends_each_message_once(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
        lapses_after: int,
        write_seconds: float,
    ) -> None:
        # 6 messages: three batches, the next claimed while one is sent.
        settings = await two_a_batch(database_url, tmp_path, smtp_sink, 3)
        if write_seconds:
            slow_writes(monkeypatch, seconds=write_seconds)
        clock = Clock()

        async def lapse(sent: int) -> None:
            if sent == lapses_after:
                clock.advance(seconds=41)  # the worker stalled: no renewal came through
                await lapse_leases(engine)

        await drain_with_hook(engine, settings, clock, lapse)

        assert {s for _, s, _ in await statuses(engine)} == {"sent"}
        assert_each_delivered_once(smtp_sink, 6)

    async def test_a_send_still_running_as_its_lease_ends_is_stopped(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        # 4 messages: two batches.
        settings = await two_a_batch(database_url, tmp_path, smtp_sink, 2)
        clock = Clock()

        async def stall(sent: int) -> None:
            # After the first message the lease has 0.3 s left, and the server stalls.
            clock.advance(seconds=40 - 5 - 0.3)
            smtp_sink.delay = 1.0

        assert await drain_with_hook(engine, settings, clock, stall) == 2

        first, second, *ahead = await rows(engine)
        assert (first["status"], first["attempts"]) == ("sent", 1)
        # Cut short before the lease could pass to another worker, and due again later.
        assert (second["status"], second["attempts"]) == ("pending", 1)
        assert "lease was ending" in str(second["last_error"])
        # The drain ended there (the connection is in an unknown state); the batch claimed
        # ahead went back untried.
        assert [(r["status"], r["attempts"]) for r in ahead] == [("pending", 0)] * 2

    async def test_results_are_not_written_over_a_claim_that_took_the_rows(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        settings = await two_a_batch(database_url, tmp_path, smtp_sink, 1)  # one batch
        clock = Clock()

        async def overrun(sent: int) -> None:
            # The last send ends after the lease, and another worker has claimed the row. (The
            # first message's result was written while the second was sent.)
            if sent == 2:
                await until_sent(engine, 1)
                clock.advance(seconds=41)
                await lapse_leases(engine)
                async with engine.begin() as connection:
                    await outbox.claim_due(
                        connection, now=clock.now, token="another", lease_seconds=40, limit=9
                    )

        await drain_with_hook(engine, settings, clock, overrun)

        # The other claim holds it: not marked sent by the worker that lost it.
        first, second = await rows(engine)
        assert (first["status"], first["claimed_until"]) == ("sent", None)
        assert (second["status"], second["claim_token"]) == ("sending", "another")
        assert "1 of 1 sent messages were not recorded" in caplog.text

    @pytest.mark.parametrize("size", [1, 3, 4])
    async def test_a_dead_worker_has_at_most_a_batch_sent_and_unrecorded(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
        size: int,
    ) -> None:
        # Slow writes: results are written while the next messages are sent, yet after any
        # send, what the server has and the database does not is at most a batch.
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_batch_size=size)
        await submit(settings, *bodies(6))  # 12 messages
        slow_writes(monkeypatch, seconds=0.2)
        unrecorded: list[int] = []

        async def count(sent: int) -> None:
            recorded = Counter(s for _, s, _ in await statuses(engine))["sent"]
            unrecorded.append(sent - recorded)

        assert await drain_with_hook(engine, settings, Clock(), count) == 12

        assert len(unrecorded) == 12
        assert max(unrecorded) <= size
        assert_each_delivered_once(smtp_sink, 12)

    async def test_sending_goes_on_while_results_are_written(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_batch_size=4)
        await submit(settings, *bodies(2))  # 4 messages: one batch, written in two halves
        last_sent = asyncio.Event()
        waited: list[bool] = []
        written: list[int] = []
        real_record = outbox.record

        async def record_after_the_last_send(
            connection: AsyncConnection, results: list[Result], **kwargs: Any
        ) -> None:
            written.append(len(results))
            if not waited:
                # The first half's write holds on until the batch's last message is accepted,
                # which only happens if sending goes on meanwhile (else: 5 s, then the test fails).
                try:
                    async with asyncio.timeout(5):
                        await last_sent.wait()
                    waited.append(True)
                except TimeoutError:
                    waited.append(False)
            await real_record(connection, results, **kwargs)

        monkeypatch.setattr(outbox, "record", record_after_the_last_send)

        async def note(sent: int) -> None:
            if sent == 4:
                last_sent.set()

        assert await drain_with_hook(engine, settings, Clock(), note) == 4

        assert written == [2, 2]
        assert waited == [True]
        assert {s for _, s, _ in await statuses(engine)} == {"sent"}

    async def test_a_drain_cancelled_while_a_write_is_waited_for_lets_it_finish(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_batch_size=2)
        await submit(settings, valid_inquiry())  # 2 messages: one batch, written in halves
        release_write = asyncio.Event()
        real_record = outbox.record

        async def held_record(*args: Any, **kwargs: Any) -> None:
            await release_write.wait()
            await real_record(*args, **kwargs)

        monkeypatch.setattr(outbox, "record", held_record)
        second_sent = asyncio.Event()

        async def note(sent: int) -> None:
            if sent == 2:
                second_sent.set()

        drain = asyncio.create_task(hooked_worker(engine, settings, note).drain())
        await second_sent.wait()
        await asyncio.sleep(0.05)  # the batch is over: the drain waits for the first write
        drain.cancel()
        release_write.set()
        with pytest.raises(asyncio.CancelledError):
            await drain

        # The first message's result was written; the second's was never started, and its
        # lease will bring it back.
        assert [s for _, s, _ in await statuses(engine)] == ["sent", "sending"]

    async def test_each_batch_tries_to_connect_again(
        self, database_url: str, tmp_path: Path, engine: AsyncEngine
    ) -> None:
        connections = 0

        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = make_settings(
            database_url,
            tmp_path,
            mail_transport="smtp",
            smtp_host="127.0.0.1",
            smtp_port=port,
            outbox_batch_size=4,
        )
        await submit(settings, *bodies(6))  # 12 messages: three batches
        async with server:
            assert await drain(engine, settings) == 12

        # One refusal fails its own batch, not the whole backlog: each batch tried anew.
        assert connections == 3
        assert {(s, a) for _, s, a in await statuses(engine)} == {("pending", 1)}


class TestLeases:
    async def test_rows_of_a_dead_worker_return_within_the_lease(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(
            database_url,
            tmp_path,
            smtp_sink,
            outbox_lease_seconds=2,
            outbox_heartbeat_seconds=0.5,
        )
        await submit(settings, valid_inquiry())
        # A worker claims and then dies before sending or recording anything.
        async with engine.begin() as connection:
            claimed = await outbox.claim_due(
                connection, now=utcnow(), token="dead", lease_seconds=2, limit=10
            )
        assert len(claimed) == 2
        assert await drain(engine, settings) == 0  # still leased

        # Once the database's clock passes the lease (the loop only guards against a hang).
        handled = 0
        for _ in range(100):
            handled = await drain(engine, settings)
            if handled:
                break
            await asyncio.sleep(0.1)
        assert handled == 2
        assert_each_delivered_once(smtp_sink, 2)

    async def test_the_heartbeat_keeps_a_batch_that_outlasts_its_lease(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(
            database_url,
            tmp_path,
            smtp_sink,
            outbox_lease_seconds=2,
            outbox_heartbeat_seconds=0.5,
        )
        await submit(settings, *bodies(3))  # 6 messages, one batch
        smtp_sink.delay = 0.6  # 3.6 s of sending: nearly two leases
        taken: list[int] = []
        sending = asyncio.create_task(drain(engine, settings))
        await asyncio.to_thread(wait_for, lambda: len(smtp_sink.received) >= 1)
        while not sending.done():
            # Another worker tries all along: the renewed lease keeps the rows from it.
            async with engine.begin() as connection:
                taken += [
                    message.id
                    for message in await outbox.claim_due(
                        connection, now=utcnow(), token="other", lease_seconds=2, limit=10
                    )
                ]
            await asyncio.sleep(0.2)

        assert await sending == 6
        assert taken == []
        assert {s for _, s, _ in await statuses(engine)} == {"sent"}
        assert_each_delivered_once(smtp_sink, 6)

    async def test_a_worker_whose_clock_runs_ahead_leaves_leased_rows_alone(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        await submit(settings, valid_inquiry())
        async with engine.begin() as connection:
            await outbox.claim_due(
                connection, now=utcnow(), token="other", lease_seconds=30, limit=10
            )
        ahead = Clock()
        ahead.advance(hours=1)

        # By its own clock the lease lapsed long ago; by the database's it holds.
        assert await drain(engine, settings, ahead) == 0
        async with engine.connect() as connection:
            assert await outbox.urgent_waiting(connection, now=ahead.now) is False
        assert smtp_sink.received == []

    async def test_stranded_urgent_rows_are_claimed_before_older_ones(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_batch_size=3)
        await submit(settings, *bodies(2))
        [crisis] = await submit(
            settings, valid_inquiry(message="I have a plan to kill myself this weekend.")
        )
        async with engine.begin() as connection:  # a worker takes the crisis, then dies
            taken = await outbox.claim_due(
                connection, now=utcnow(), token="dead", lease_seconds=30, limit=3
            )
        assert all(crisis in message.message_id for message in taken)
        await lapse_leases(engine)

        assert await drain(engine, settings) == 7
        sent = smtp_sink.message_ids()
        assert all(crisis in message_id for message_id in sent[:3]), sent
        assert_each_delivered_once(smtp_sink, 7)


class TestResultWrites:
    async def test_a_write_cut_once_mid_drain_sends_nothing_twice(
        self,
        database_url: str,
        tmp_path: Path,
        smtp_sink: Sink,
        engine: AsyncEngine,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink, outbox_batch_size=4)
        await submit(settings, *bodies(6))  # 12 messages: three batches, written in halves
        real_record = outbox.record
        writes = 0

        async def cut_once(connection: outbox.Connection, *args: Any, **kwargs: Any) -> None:
            nonlocal writes
            writes += 1
            if writes == 3:  # the second batch's first half
                await cut(connection, settings.database_url)
            await real_record(connection, *args, **kwargs)

        monkeypatch.setattr(outbox, "record", cut_once)
        assert await drain(engine, settings) == 12
        assert writes > 3
        assert {s for _, s, _ in await statuses(engine)} == {"sent"}

        # Nothing was left to come back when the leases lapse.
        await lapse_leases(engine)
        assert await drain(engine, settings) == 0
        assert_each_delivered_once(smtp_sink, 12)


async def cut(connection: outbox.Connection, database_url: str) -> None:
    """Cut the connection under a transaction: PostgreSQL ends its backend, as an operator or
    a failover does; SQLite's driver loses its database connection."""
    if isinstance(connection, AsyncConnection):
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.close()
        return
    import asyncpg

    pid = connection.get_server_pid()
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "INQUIRY_DATABASE_URL": settings.database_url,
        "INQUIRY_MAIL_TRANSPORT": "smtp",
        "INQUIRY_SMTP_HOST": settings.smtp_host,
        "INQUIRY_SMTP_PORT": str(settings.smtp_port),
        "INQUIRY_OUTBOX_BATCH_SIZE": "10",
        **extra,
    }


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


class TestWorkerProcess:
    async def test_worker_killed_mid_batch_loses_nothing(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(
            database_url, tmp_path, smtp_sink, outbox_lease_seconds=2, outbox_heartbeat_seconds=0.5
        )
        await submit(settings, *bodies(15))  # 30 messages
        smtp_sink.delay = 0.05
        process = subprocess.Popen(  # noqa: ASYNC220 - a test's child; nothing else runs on this loop
            [sys.executable, "-m", "inquiry", "worker"],
            env=worker_env(
                settings, INQUIRY_OUTBOX_LEASE_SECONDS="2", INQUIRY_OUTBOX_HEARTBEAT_SECONDS="0.5"
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.to_thread(wait_for, lambda: len(smtp_sink.received) >= 5)
        process.kill()
        process.wait(timeout=10)
        delivered_before = len(smtp_sink.received)
        assert delivered_before < 30

        smtp_sink.delay = 0
        # Its rows return once the database's clock passes their 2 s lease (the loop only
        # guards against a hang).
        for _ in range(100):
            await drain(engine, settings)
            if {s for _, s, _ in await statuses(engine)} == {"sent"}:
                break
            await asyncio.sleep(0.1)

        assert {s for _, s, _ in await statuses(engine)} == {"sent"}
        ids = Counter(smtp_sink.message_ids())
        assert len(ids) == 30  # every message arrived
        # Re-sent only what was in the dead worker's hands, and recognisably the same message.
        assert sum(ids.values()) - 30 <= 10

    async def test_sigterm_finishes_the_message_in_hand_and_releases_the_rest(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink, engine: AsyncEngine
    ) -> None:
        settings = smtp_settings(database_url, tmp_path, smtp_sink)
        # 30 messages in batches of 10: at the signal, the next batch is already claimed.
        await submit(settings, *bodies(15))
        smtp_sink.delay = 0.2
        process = subprocess.Popen(  # noqa: ASYNC220 - a test's child; nothing else runs on this loop
            [sys.executable, "-m", "inquiry", "worker"],
            env=worker_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        await asyncio.to_thread(wait_for, lambda: len(smtp_sink.received) >= 1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output

        found = Counter(s for _, s, _ in await statuses(engine))
        assert found["sending"] == 0  # the batch in hand and the one claimed ahead went back
        assert found["sent"] == len(smtp_sink.received) < 10
        assert found["pending"] == 30 - found["sent"]
        assert_each_delivered_once(smtp_sink, found["sent"])


class TestPrompt:
    async def test_serve_sends_a_new_inquiry_without_waiting_for_the_poll(
        self, database_url: str, tmp_path: Path, smtp_sink: Sink
    ) -> None:
        settings = smtp_settings(
            database_url, tmp_path, smtp_sink, worker_in_process=True, outbox_poll_seconds=300
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0.2)  # the worker's first look finds nothing; now it waits
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.post("/api/v1/inquiries", json=valid_inquiry())
                assert response.status_code == 201
                # Within 10 s, far below the 300 s poll: the commit itself woke the worker.
                await asyncio.to_thread(wait_for, lambda: len(smtp_sink.received) == 2, 10)


class TestFileTransport:
    async def test_eml_files_are_named_by_message_id_and_never_duplicated(
        self, database_url: str, tmp_path: Path, engine: AsyncEngine
    ) -> None:
        settings = make_settings(database_url, tmp_path, mail_dir=tmp_path / "mail")
        [reference] = await submit(settings, valid_inquiry())
        await drain(engine, settings)
        async with engine.begin() as connection:  # as if the results were lost in a crash
            await connection.execute(sa.update(outbox_table).values(status="pending"))
        await drain(engine, settings)

        files = sorted(p.name for p in (tmp_path / "mail").iterdir())
        assert files == [
            f"{reference}.admin_notification@ketaminetherapyclinic.ca.eml",
            f"{reference}.visitor_acknowledgement@ketaminetherapyclinic.ca.eml",
        ]
        saved = message_from_bytes(
            (tmp_path / "mail" / files[0]).read_bytes(), policy=policy.default
        )
        assert saved["Subject"] == f"[NORMAL] New patient — {reference}"


class TestSeveralWorkers:
    async def test_two_workers_on_postgresql_never_send_a_row_twice(
        self, pg_database: str, tmp_path: Path, smtp_sink: Sink
    ) -> None:
        from tests.conftest import _truncate

        await _truncate(pg_database)
        settings = smtp_settings(pg_database, tmp_path, smtp_sink, outbox_batch_size=7)
        await submit(settings, *bodies(60))  # 120 messages
        smtp_sink.delay = 0.002

        engines = [create_engine(settings), create_engine(settings)]
        try:
            sent = await asyncio.gather(*(drain(engine, settings) for engine in engines))
        finally:
            for engine in engines:
                await engine.dispose()

        assert sum(sent) == 120
        assert all(n > 0 for n in sent), sent  # both really worked
        assert_each_delivered_once(smtp_sink, 120)


class TestListen:
    async def test_a_dead_message_queued_again_wakes_the_workers(
        self, pg_database: str, tmp_path: Path
    ) -> None:
        from inquiry.notify import listen
        from tests.conftest import _truncate

        await _truncate(pg_database)
        settings = make_settings(pg_database, tmp_path)
        await submit(settings, valid_inquiry())
        engine = create_engine(settings)
        try:
            async with engine.begin() as connection:
                dead_id = await connection.scalar(
                    sa.update(outbox_table)
                    .where(
                        outbox_table.c.id
                        == sa.select(sa.func.min(outbox_table.c.id)).scalar_subquery()
                    )
                    .values(status="dead")
                    .returning(outbox_table.c.id)
                )
        finally:
            await engine.dispose()
        woken = asyncio.Event()
        async with listen.outbox_notifications(pg_database, woken.set):
            await asyncio.wait_for(woken.wait(), 10)  # woken once on connecting
            woken.clear()
            args = argparse.Namespace(outbox_command="retry", id=dead_id)
            assert await outbox_command(settings, args, io.StringIO()) == 0
            # As a commit of new rows does: the worker looks now, not at its next poll.
            await asyncio.wait_for(woken.wait(), 10)

    async def test_listener_reconnects_after_its_connection_is_killed(
        self, pg_database: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import asyncpg

        from inquiry.notify import listen

        monkeypatch.setattr(listen, "RECONNECT_SECONDS", 0.1)
        woken = asyncio.Event()
        dsn = pg_database.replace("+asyncpg", "")
        async with listen.outbox_notifications(pg_database, woken.set):
            await asyncio.wait_for(woken.wait(), 10)  # woken once on connecting
            admin = await asyncpg.connect(dsn)
            try:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                )
                assert killed == 1
                woken.clear()
                await asyncio.wait_for(woken.wait(), 10)  # reconnected
                woken.clear()
                await admin.execute("NOTIFY inquiry_outbox")
                await asyncio.wait_for(woken.wait(), 10)  # and listening again
            finally:
                await admin.close()
