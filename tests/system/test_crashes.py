"""kill -9 and SIGTERM of serve and workers: every accepted inquiry stored, every owed email
delivered, duplicates bounded by what one worker had in hand (a batch)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from inquiry.models import outbox_table
from tests.system.harness import (
    BATCH_SIZE,
    Load,
    SmtpSink,
    all_delivered,
    database_engine,
    delivery,
    outbox_state,
    service_env,
    start_serve,
    start_worker,
    stored_emails,
    wait_until,
    wait_until_async,
)


async def test_serve_killed_under_load_keeps_every_accepted_inquiry_and_its_mail(
    system_database: str, sink: SmtpSink, tmp_path: Path
) -> None:
    env = service_env(system_database, sink)
    serve = await asyncio.to_thread(start_serve, env, tmp_path)
    sink.set_delay(0.005)  # mail is still going out when the server dies
    load = Load(lambda: serve.base)
    submitting = asyncio.create_task(load.run(count=200, concurrency=16))

    async def fifty_accepted() -> bool:
        return len(load.accepted()) >= 50

    await wait_until_async(fifty_accepted, seconds=60, what="50 submissions accepted")
    serve.process.kill()
    await submitting

    restarted = await asyncio.to_thread(start_serve, env, tmp_path, serve.port)
    engine = database_engine(system_database)
    try:
        assert set(load.statuses()) <= {201, 303, None}, load.statuses()
        assert load.accepted() <= await stored_emails(engine)
        found = await all_delivered(engine, sink)
    finally:
        await engine.dispose()
        exit_code = await asyncio.to_thread(restarted.process.terminate)
    assert found.owed >= 2 * len(load.accepted())
    assert found.lost == 0
    assert found.duplicates <= BATCH_SIZE
    assert exit_code == 0


@pytest.mark.usefixtures("sink")
async def test_one_of_two_workers_killed_mid_drain(
    postgres: str, sink: SmtpSink, tmp_path: Path
) -> None:
    env = service_env(postgres, sink, INQUIRY_WORKER_IN_PROCESS="false")
    serve = await asyncio.to_thread(start_serve, env, tmp_path)
    load = Load(lambda: serve.base)
    await load.run(count=80, concurrency=8)  # 160 messages
    assert len(load.accepted()) == 80
    sink.set_delay(0.01)
    first = start_worker(env, tmp_path, "worker-1")
    second = start_worker(env, tmp_path, "worker-2")
    await asyncio.to_thread(
        wait_until, lambda: len(sink.message_ids()) >= 40, timeout=60, what="40 sent"
    )
    first.kill()
    sink.set_delay(0)

    engine = database_engine(postgres)
    try:
        found = await all_delivered(engine, sink)
    finally:
        await engine.dispose()
        codes = await asyncio.to_thread(lambda: (second.terminate(), serve.process.terminate()))
    assert (found.owed, found.lost) == (160, 0)
    assert found.duplicates <= BATCH_SIZE
    assert codes == (0, 0)


async def test_worker_stopped_while_the_mail_server_hangs(
    postgres: str, sink: SmtpSink, tmp_path: Path
) -> None:
    env = service_env(postgres, sink, INQUIRY_WORKER_IN_PROCESS="false")
    serve = await asyncio.to_thread(start_serve, env, tmp_path)
    load = Load(lambda: serve.base)
    await load.run(count=10, concurrency=4)  # 20 messages
    sink.hang()
    worker = start_worker(env, tmp_path)
    await asyncio.to_thread(
        wait_until, sink.is_holding_a_message, timeout=60, what="a message held by the sink"
    )

    # The message in hand times out (INQUIRY_SMTP_TIMEOUT_SECONDS) and is retried later; the
    # rest of the batch and the batch claimed ahead are handed back.
    exit_code = await asyncio.to_thread(worker.terminate)
    engine = database_engine(postgres)
    try:
        statuses, _ = await outbox_state(engine)
        assert exit_code == 0, worker.output()
        assert statuses == {"pending": 20}
        async with engine.connect() as connection:
            tried = (
                await connection.execute(
                    sa.select(outbox_table.c.attempts, outbox_table.c.last_error).where(
                        outbox_table.c.attempts > 0
                    )
                )
            ).all()
        assert len(tried) == 1
        [(attempts, error)] = tried
        assert attempts == 1
        assert error

        # The server recovers; another worker sends everything due (the timed-out message
        # waits for its retry).
        sink.release()
        again = start_worker(env, tmp_path, "worker-again")

        async def nineteen_sent() -> bool:
            return (await outbox_state(engine))[0]["sent"] == 19

        await wait_until_async(nineteen_sent, seconds=60, what="19 sent")
        found = await delivery(engine, sink)
    finally:
        await engine.dispose()
        codes = await asyncio.to_thread(
            lambda: (worker.popen.poll(), again.terminate(), serve.process.terminate())
        )
    assert found.statuses == {"sent": 19, "pending": 1}
    # The held message may have been accepted once the server let go of it, after the
    # worker had given up on it: at most that one twice, once it is retried.
    assert found.delivered >= 19
    assert found.duplicates == 0
    assert codes[1:] == (0, 0)
