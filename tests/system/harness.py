"""Real processes for the system tests and the soak benchmark: `inquiry serve`, `inquiry
worker`, the SMTP sink, load from outside, and what the database holds at the end."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import Settings
from inquiry.db import create_engine
from inquiry.models import inquiry_table, outbox_table
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "https://www.ketaminetherapyclinic.ca"
# Lease and heartbeat short enough that stranded rows come back within seconds.
LEASE_SECONDS = 3
BATCH_SIZE = 10


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Wait for `condition`; the timeout only guards against a hang, it is no verdict."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g} s")
        time.sleep(0.05)


async def wait_until_async(
    condition: Callable[[], Awaitable[bool]], *, seconds: float, what: str
) -> None:
    """As wait_until, for a condition that is a coroutine function."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {seconds:g} s")
        await asyncio.sleep(0.1)


@dataclass
class Process:
    """A child process with its output in a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9."""
        self.popen.kill()
        self.popen.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, and the exit code once it has stopped."""
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=30)


def start(name: str, command: list[str], env: dict[str, str], folder: Path) -> Process:
    log = folder / f"{name}.log"
    with log.open("ab") as output:
        popen = subprocess.Popen(
            [sys.executable, *command], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    return Process(name, popen, log)


@dataclass
class SmtpSink:
    """The SMTP sink's process and what it has accepted."""

    port: int
    received: Path
    control: Path
    process: Process

    def message_ids(self) -> list[str]:
        return [line for line in self.received.read_text().splitlines() if line]

    def set_delay(self, seconds: float) -> None:
        (self.control / "delay").write_text(str(seconds))

    def hang(self) -> None:
        (self.control / "hang").touch()

    def release(self) -> None:
        (self.control / "hang").unlink(missing_ok=True)

    def is_holding_a_message(self) -> bool:
        return (self.control / "hanging").exists()


@contextlib.contextmanager
def smtp_sink(folder: Path) -> Iterator[SmtpSink]:
    port = free_port()
    control = folder / "sink-control"
    received = folder / "received.txt"
    process = start(
        "smtp-sink",
        ["-m", "tests.system.smtp_sink", str(port), str(received), str(control)],
        dict(os.environ),
        folder,
    )
    try:
        wait_until(lambda: (control / "ready").exists(), timeout=30, what="SMTP sink ready")
        yield SmtpSink(port, received, control, process)
    finally:
        process.popen.send_signal(signal.SIGTERM)
        try:
            process.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.stop()


def service_env(database_url: str, sink: SmtpSink, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INQUIRY_")}
    env.update(
        {
            "INQUIRY_DATABASE_URL": database_url,
            "INQUIRY_MAIL_TRANSPORT": "smtp",
            "INQUIRY_SMTP_HOST": "127.0.0.1",
            "INQUIRY_SMTP_PORT": str(sink.port),
            "INQUIRY_RATE_LIMIT_ENABLED": "false",
            "INQUIRY_ALLOWED_ORIGINS": ORIGIN,
            "INQUIRY_PUBLIC_BASE_URL": "http://testserver",
            "INQUIRY_OUTBOX_BATCH_SIZE": str(BATCH_SIZE),
            "INQUIRY_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
            "INQUIRY_OUTBOX_HEARTBEAT_SECONDS": "0.5",
            "INQUIRY_OUTBOX_POLL_SECONDS": "0.5",
            "INQUIRY_SMTP_TIMEOUT_SECONDS": "2",
            **extra,
        }
    )
    return env


@dataclass
class Serve:
    process: Process
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_serve(env: dict[str, str], folder: Path, port: int | None = None) -> Serve:
    port = port or free_port()
    process = start(f"serve-{port}", ["-m", "inquiry", "serve", "--port", str(port)], env, folder)
    serve = Serve(process, port)

    def healthy() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"serve exited: {process.output()}")
        try:
            return httpx.get(f"{serve.base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=60, what="serve healthy")
    return serve


def start_worker(env: dict[str, str], folder: Path, name: str = "worker") -> Process:
    return start(name, ["-m", "inquiry", "worker"], env, folder)


def inquiry_body(number: int, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Marie Tremblay",
        "email": f"visitor{number}@example.ca",
        # A number of each visitor's own: visitors sharing one would be linked as one person.
        "phone": f"(416) 555-{1000 + number % 9000:04d}",
        "preferred_contact": "phone",
        "callback_window": "morning",
        "voicemail_ok": True,
        "topic": "new_patient",
        "subject": "Starting treatment",
        "message": "Hello, I would like to know how to start IV ketamine treatment.",
        "language": "en",
        "consent": True,
    }
    body.update(changes)
    return body


@dataclass
class Outcome:
    """One submission as the visitor saw it: its status (None: no answer) and its address."""

    email: str
    status: int | None


@dataclass
class Load:
    """Submissions from outside, API and hosted form in turn, numbered from `first`."""

    base: Callable[[], str]
    first: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    _numbers: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self._numbers = itertools.count(self.first)

    async def submit(self, client: httpx.AsyncClient) -> Outcome:
        number = next(self._numbers)
        body = inquiry_body(number)
        try:
            if number % 2:
                form = {
                    key: str(value).lower() if isinstance(value, bool) else str(value)
                    for key, value in body.items()
                }
                response = await client.post(
                    f"{self.base()}/forms/contact", data=form, headers={"Origin": ORIGIN}
                )
            else:
                response = await client.post(
                    f"{self.base()}/api/v1/inquiries",
                    json=body,
                    headers={"Idempotency-Key": f"load-key-{number:06d}"},
                )
            status: int | None = response.status_code
        except httpx.TransportError:
            status = None
        outcome = Outcome(str(body["email"]), status)
        self.outcomes.append(outcome)
        return outcome

    async def run(self, count: int, concurrency: int) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            remaining = count

            async def one_client() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    await self.submit(client)

            await asyncio.gather(*(one_client() for _ in range(concurrency)))

    def accepted(self) -> set[str]:
        return {o.email for o in self.outcomes if o.status in (201, 303)}

    def refused(self) -> set[str]:
        return {o.email for o in self.outcomes if o.status == 503}

    def statuses(self) -> Counter[int | None]:
        return Counter(o.status for o in self.outcomes)


def database_engine(database_url: str) -> AsyncEngine:
    return create_engine(Settings(_env_file=None, database_url=database_url))


async def stored_emails(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.scalars(sa.select(inquiry_table.c.email)))


async def outbox_state(engine: AsyncEngine) -> tuple[Counter[str], list[str]]:
    """Outbox rows by status, and the Message-IDs owed (every row)."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(sa.select(outbox_table.c.status, outbox_table.c.message_id))
        ).all()
    return Counter(status for status, _ in rows), [mid.strip("<>") for _, mid in rows]


@dataclass(frozen=True)
class Delivery:
    owed: int
    delivered: int  # owed messages the sink accepted at least once
    duplicates: int  # acceptances beyond the first
    lost: int  # owed, sent by the database's account, never accepted
    statuses: Counter[str]


async def delivery(engine: AsyncEngine, sink: SmtpSink) -> Delivery:
    statuses, owed = await outbox_state(engine)
    accepted = Counter(sink.message_ids())
    delivered = sum(1 for message_id in owed if accepted[message_id])
    duplicates = sum(count - 1 for count in accepted.values())
    return Delivery(len(owed), delivered, duplicates, len(owed) - delivered, statuses)


async def all_delivered(engine: AsyncEngine, sink: SmtpSink) -> Delivery:
    """Wait until every owed message was accepted and recorded as sent."""
    result: list[Delivery] = []

    async def done() -> bool:
        result[:] = [await delivery(engine, sink)]
        found = result[0]
        return found.lost == 0 and set(found.statuses) <= {"sent"}

    await wait_until_async(done, seconds=90, what="every owed message delivered")
    return result[0]
