"""Database connections cut, two servers on one database, slow and half-sent requests at
shutdown, more connections than the server takes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx

from tests.system.harness import (
    ORIGIN,
    ROOT,
    Load,
    SmtpSink,
    all_delivered,
    database_engine,
    inquiry_body,
    service_env,
    start_serve,
    start_worker,
    stored_emails,
    wait_until,
    wait_until_async,
)


@contextlib.asynccontextmanager
async def cutting_connections(database_url: str, every: float) -> AsyncIterator[list[int]]:
    """While open, end every other backend on the database each `every` seconds (as a
    failover or an operator's pg_terminate_backend does); yields the count of cuts."""
    cuts: list[int] = []
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))

    async def cut() -> None:
        while True:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            cuts.append(int(ended))
            await asyncio.sleep(every)

    cutter = asyncio.create_task(cut())
    try:
        yield cuts
    finally:
        cutter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cutter
        await admin.close()


async def test_connections_cut_during_intake_store_every_201_and_nothing_after_a_503(
    postgres: str, sink: SmtpSink, tmp_path: Path
) -> None:
    env = service_env(postgres, sink)
    serve = await asyncio.to_thread(start_serve, env, tmp_path)
    load = Load(lambda: serve.base)
    async with cutting_connections(postgres, every=0.1) as cuts:
        await load.run(count=300, concurrency=12)
    engine = database_engine(postgres)
    try:
        stored = await stored_emails(engine)
        found = await all_delivered(engine, sink)
    finally:
        await engine.dispose()
        exit_code = await asyncio.to_thread(serve.process.terminate)

    statuses = load.statuses()
    assert set(statuses) <= {201, 303, 503}, statuses
    assert sum(cuts) > 0
    assert statuses[503] > 0, statuses  # the cuts did reach requests
    assert load.accepted() <= stored
    assert not load.refused() & stored
    assert found.lost == 0
    assert found.owed == 2 * len(stored)
    assert exit_code == 0


async def test_connections_cut_during_result_writes_send_no_batch_twice(
    postgres: str, sink: SmtpSink, tmp_path: Path
) -> None:
    env = service_env(postgres, sink, INQUIRY_WORKER_IN_PROCESS="false")
    serve = await asyncio.to_thread(start_serve, env, tmp_path)
    load = Load(lambda: serve.base)
    await load.run(count=100, concurrency=8)  # 200 messages
    assert len(load.accepted()) == 100
    sink.set_delay(0.005)
    worker = start_worker(env, tmp_path)
    await asyncio.to_thread(
        wait_until,
        lambda: "outbox worker started" in worker.output(),
        timeout=60,
        what="the worker started",
    )
    async with cutting_connections(postgres, every=0.25) as cuts:
        await asyncio.to_thread(
            wait_until, lambda: len(sink.message_ids()) >= 150, timeout=90, what="150 sent"
        )
    engine = database_engine(postgres)
    try:
        found = await all_delivered(engine, sink)
    finally:
        await engine.dispose()
        codes = await asyncio.to_thread(lambda: (worker.terminate(), serve.process.terminate()))
    assert sum(cuts) > 0
    assert (found.owed, found.lost) == (200, 0)
    assert found.duplicates == 0
    assert codes == (0, 0), worker.output()[-4000:]


def staff_token(env: dict[str, str]) -> str:
    def staff(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "inquiry", "staff", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout

    staff("add", "agent@ketaminetherapyclinic.ca", "--no-password")
    return staff("token", "agent@ketaminetherapyclinic.ca").strip().split()[-1]


async def test_two_servers_on_one_database(postgres: str, sink: SmtpSink, tmp_path: Path) -> None:
    env = service_env(postgres, sink, INQUIRY_WORKER_IN_PROCESS="false")
    one, two = await asyncio.gather(
        asyncio.to_thread(start_serve, env, tmp_path), asyncio.to_thread(start_serve, env, tmp_path)
    )
    token = await asyncio.to_thread(staff_token, env)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            # Each Idempotency-Key sent to both servers at once: one inquiry each.
            keyed = [
                client.post(
                    f"{server.base}/api/v1/inquiries",
                    json=inquiry_body(number),
                    headers={"Idempotency-Key": f"shared-key-{number:04d}"},
                )
                for number in range(20)
                for server in (one, two)
            ]
            answers = await asyncio.gather(*keyed)
            assert {a.status_code for a in answers} == {201}
            references = [a.json()["reference"] for a in answers]
            assert references[0::2] == references[1::2]  # the same inquiry from either

            engine = database_engine(postgres)
            try:
                assert len(await stored_emails(engine)) == 20
                async with engine.connect() as connection:
                    count = await connection.exec_driver_sql("SELECT count(*) FROM inquiry")
                    assert count.scalar() == 20
                    await connection.exec_driver_sql(
                        "UPDATE callback_task SET status = 'cancelled' WHERE id NOT IN "
                        "(SELECT id FROM callback_task ORDER BY id LIMIT 5)"
                    )
                    await connection.commit()
            finally:
                await engine.dispose()

            # 20 agents' "next call" at once, split across both servers, on 5 waiting tasks.
            staff = {"Authorization": f"Bearer {token}"}
            claims = await asyncio.gather(
                *(
                    client.post(f"{server.base}/api/v1/staff/callbacks/claim-next", headers=staff)
                    for _ in range(10)
                    for server in (one, two)
                )
            )
    finally:
        codes = await asyncio.to_thread(lambda: (one.process.terminate(), two.process.terminate()))
    assert {c.status_code for c in claims} == {200}, [c.text for c in claims]
    taken = [c.json()["task"]["id"] for c in claims if c.json()["task"] is not None]
    assert len(taken) == len(set(taken)) == 5
    assert codes == (0, 0)


async def test_connections_cut_under_staff_work_answer_503_never_500(
    postgres: str, sink: SmtpSink, tmp_path: Path
) -> None:
    env = service_env(postgres, sink, INQUIRY_WORKER_IN_PROCESS="false")
    serve = await asyncio.to_thread(start_serve, env, tmp_path)
    token = await asyncio.to_thread(staff_token, env)
    await Load(lambda: serve.base).run(count=40, concurrency=4)
    staff = {"Authorization": f"Bearer {token}"}
    answers: list[int] = []
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def agent() -> None:
                for _ in range(25):
                    claim = await client.post(
                        f"{serve.base}/api/v1/staff/callbacks/claim-next", headers=staff
                    )
                    answers.append(claim.status_code)
                    task = claim.json().get("task") if claim.status_code == 200 else None
                    if task is not None:
                        attempt = await client.post(
                            f"{serve.base}/api/v1/staff/callbacks/{task['id']}/attempts",
                            json={"outcome": "no_answer"},
                            headers=staff,
                        )
                        answers.append(attempt.status_code)
                    listing = await client.get(
                        f"{serve.base}/api/v1/staff/callbacks?limit=5", headers=staff
                    )
                    answers.append(listing.status_code)

            async with cutting_connections(postgres, every=0.05) as cuts:
                await asyncio.gather(*(agent() for _ in range(4)))
    finally:
        exit_code = await asyncio.to_thread(serve.process.terminate)
    found = Counter(answers)
    assert sum(cuts) > 0
    assert set(found) <= {200, 503}, (found, serve.process.output()[-3000:])
    assert found[503] > 0, found  # the cuts reached requests
    assert exit_code == 0


def partial_request(port: int, number: int) -> tuple[socket.socket, bytes]:
    """A connection that has sent a request's headers and half its body; returns the rest."""
    body = json.dumps(inquiry_body(number)).encode()
    head = (
        f"POST /api/v1/inquiries HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Idempotency-Key: half-sent-{number:04d}\r\nOrigin: {ORIGIN}\r\n\r\n"
    ).encode()
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(head + body[: len(body) // 2])
    return connection, body[len(body) // 2 :]


def read_status(connection: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        chunk = connection.recv(4096)
        if not chunk:
            break
        answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer else 0


def test_sigterm_lets_requests_already_sent_finish_and_exits_0(
    postgres: str, sink: SmtpSink, tmp_path: Path
) -> None:
    serve = start_serve(service_env(postgres, sink), tmp_path)
    pending = [partial_request(serve.port, number) for number in range(8)]
    # Each request's headers have arrived (the server reads bodies as the app asks).
    with httpx.Client() as client:
        assert client.get(f"{serve.base}/healthz").status_code == 200
    serve.process.popen.send_signal(signal.SIGTERM)
    wait_until(lambda: "Shutting down" in serve.process.output(), timeout=30, what="shutdown began")
    statuses = []
    for connection, rest in pending:
        with connection:
            connection.sendall(rest)
            statuses.append(read_status(connection))
    exit_code = serve.process.popen.wait(timeout=60)

    assert statuses == [201] * 8
    assert exit_code == 0, serve.process.output()
    assert "stopped cleanly" in serve.process.output()


async def test_a_database_stalled_at_shutdown_ends_in_time_named_and_exit_1(
    postgres: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """A submission waits on a lock nobody releases when SIGTERM comes: serve gives it its
    grace, cuts the writer short, says so, exits 1, and the inquiry was not stored."""
    env = service_env(postgres, sink, INQUIRY_SHUTDOWN_SECONDS="1")
    serve = await asyncio.to_thread(start_serve, env, tmp_path)
    holder = await asyncpg.connect(postgres.replace("+asyncpg", ""))
    try:
        stalled = holder.transaction()
        await stalled.start()
        await holder.execute("LOCK TABLE inquiry IN ACCESS EXCLUSIVE MODE")
        async with httpx.AsyncClient(timeout=60) as client:
            submission = asyncio.create_task(
                client.post(
                    f"{serve.base}/api/v1/inquiries",
                    json=inquiry_body(1),
                    headers={"Origin": ORIGIN},
                )
            )
            await wait_until_async(
                lambda: _waiting_on_a_lock(holder), seconds=30, what="the insert waits"
            )
            serve.process.popen.send_signal(signal.SIGTERM)
            exit_code = await asyncio.to_thread(serve.process.popen.wait, 30)
            answered = await asyncio.gather(submission, return_exceptions=True)
        await stalled.rollback()
        stored = await holder.fetchval("SELECT count(*) FROM inquiry")
    finally:
        await holder.close()

    output = serve.process.output()
    assert exit_code == 1, output[-4000:]
    assert "the intake writer did not finish in time" in output
    assert "cut short: the intake writer" in output
    assert stored == 0
    assert not isinstance(answered[0], httpx.Response) or answered[0].status_code != 201


async def _waiting_on_a_lock(connection: asyncpg.Connection) -> bool:
    waiting = await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


def test_connections_beyond_the_limit_get_503_at_once(
    postgres: str, sink: SmtpSink, tmp_path: Path
) -> None:
    serve = start_serve(service_env(postgres, sink, INQUIRY_MAX_CONNECTIONS="3"), tmp_path)
    idle = [socket.create_connection(("127.0.0.1", serve.port), timeout=10) for _ in range(3)]
    try:
        with httpx.Client() as client:
            wait_until(
                lambda: client.get(f"{serve.base}/healthz").status_code == 503,
                timeout=30,
                what="the fourth connection refused",
            )
    finally:
        for connection in idle:
            connection.close()
    with httpx.Client() as client:
        wait_until(
            lambda: client.get(f"{serve.base}/healthz").status_code == 200,
            timeout=30,
            what="served again once they close",
        )
    assert serve.process.terminate() == 0
