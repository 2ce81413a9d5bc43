"""Outbox delivery benchmark (a script that prints numbers, not a timed test).

1. Throughput: queues N notifications (N/2 inquiries: admin copy + acknowledgement) and drains
   them with the real OutboxWorker into an aiosmtpd sink running in its own process, side by
   side with the limit: a bare aiosmtplib loop sending the same messages, already rendered to
   the very bytes the worker sends, with sendmail() over one reused connection (nothing is
   built or flattened inside that loop). This is done in rounds, each with its own N messages,
   and each round is limit, worker, limit: the limit sends the first half of the messages
   before the worker drains all N, and the second half after. This machine's speed drifts by
   tens of percent within a minute; timed on both sides of the worker, the limit sees the
   same drift, so a steady drift cancels out. The ratio is over all rounds; each round's is
   printed, with the CPU this process spent per message on each side (the worker's own cost,
   which drift in the machine's speed does not change as much as it changes the rates).
2. Latency at idle: starts the real `inquiry serve` (worker in process) and measures, for a
   series of inquiries posted one at a time, the time from the 201 to the sink accepting the
   admin email.

    .venv/bin/python tests/bench/notify_bench.py [--messages 2000] [--rounds 4]
        [--only sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from inquiry.app import create_app  # noqa: E402
from inquiry.config import Settings  # noqa: E402
from inquiry.db import create_engine, migrate  # noqa: E402
from inquiry.models import OutboxStatus, outbox_table  # noqa: E402
from inquiry.notify.render import MessageRenderer, OutgoingEmail  # noqa: E402
from inquiry.notify.worker import OutboxWorker  # noqa: E402
from inquiry.outbox import CLAIMED_COLUMNS, ClaimedMessage, inquiries_for  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BODY = {
    "name": "Ann Example",
    "phone": "416-555-0199",
    "preferred_contact": "email",
    "topic": "new_patient",
    "subject": "Question about treatment",
    "message": "Hello, my family doctor suggested I ask about ketamine therapy for depression "
    "that has not improved after two medications. How does the first assessment work, and is "
    "any of it covered by OHIP or by my work insurance? Thank you for your help.",
    "language": "en",
    "consent": True,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


SINK = """
import json, signal, sys, time, threading
from aiosmtpd.controller import Controller
port, out = int(sys.argv[1]), sys.argv[2]
seen = []
class Handler:
    async def handle_DATA(self, server, session, envelope):
        head = envelope.content.split(b"\\r\\n\\r\\n", 1)[0]
        for line in head.split(b"\\r\\n"):
            if line.lower().startswith(b"message-id:"):
                seen.append((line.split(b":", 1)[1].strip().decode(), time.time()))
        return "250 OK"
controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
print("ready", flush=True)
done.wait()
controller.stop()
json.dump(seen, open(out, "w"))
"""


class Sink:
    """aiosmtpd in its own process, so that it does not share a GIL with what it measures."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self._out = work / f"sink-{self.port}.json"
        self._process = subprocess.Popen(
            [sys.executable, "-c", SINK, str(self.port), str(self._out)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        assert self._process.stdout.readline().strip() == "ready"

    def stop(self) -> list[tuple[str, float]]:
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(timeout=30)
        return [(m, t) for m, t in json.loads(self._out.read_text())]


def settings_for(database_url: str, work: Path, port: int, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        rate_limit_enabled=False,
        worker_in_process=False,
        mail_dir=work / "mail",
        **extra,
    )


async def queue_inquiries(settings: Settings, count: int) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for start in range(0, count, 50):
                answers = await asyncio.gather(
                    *(
                        client.post("/api/v1/inquiries", json={**BODY, "email": f"v{i}@example.ca"})
                        for i in range(start, min(count, start + 50))
                    )
                )
                assert all(a.status_code == 201 for a in answers)


async def rendered(settings: Settings) -> list[OutgoingEmail]:
    """The messages now due, rendered as the worker will send them (not timed).

    Read, not claimed: a claim handed back would leave two dead versions of every row, and
    their index entries, for the worker's claim to step over (this PostgreSQL runs without
    autovacuum); the worker should find the rows as intake wrote them.
    """
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.select(*CLAIMED_COLUMNS)
                .where(outbox_table.c.status == OutboxStatus.PENDING.value)
                .order_by(outbox_table.c.id)
            )
            messages = [ClaimedMessage(*row) for row in rows]
            inquiries = await inquiries_for(connection, messages)
        renderer = MessageRenderer(settings)
        return [
            renderer.email(m.kind, m.recipient, m.message_id, inquiries[m.inquiry_id])
            for m in messages
        ]
    finally:
        await engine.dispose()


async def bare_loop(messages: list[OutgoingEmail], port: int) -> tuple[float, float]:
    """aiosmtplib alone: the worker's exact bytes, over one reused connection, nothing else.
    Returns the seconds and the CPU seconds of this process that the sending took."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await smtp.connect()
    cpu = time.process_time()
    started = time.perf_counter()
    for message in messages:
        await smtp.sendmail(message.sender, list(message.recipients), message.data)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    await smtp.quit()
    return elapsed, cpu


async def worker_drain(settings: Settings) -> tuple[float, float, int]:
    """The real worker's drain: seconds, CPU seconds of this process, messages taken."""
    engine = create_engine(settings)
    worker = OutboxWorker(engine, settings)
    cpu = time.process_time()
    started = time.perf_counter()
    total = await worker.drain()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    await engine.dispose()
    return elapsed, cpu, total


def fresh_database(kind: str, work: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{work}/notify-{time.monotonic_ns()}.db"
    name = f"inquiry_notify_bench_{os.getpid()}"
    subprocess.run(["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True)
    subprocess.run(["psql", PG_ADMIN, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        subprocess.run(
            ["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True
        )


async def throughput(kind: str, work: Path, count: int, rounds: int) -> dict[str, Any]:
    url = fresh_database(kind, work)
    bare_seconds = worker_seconds = bare_cpu = worker_cpu = 0.0
    sent = drained = 0
    round_ratios: list[float] = []
    try:
        sink = Sink(work)
        settings = settings_for(url, work, sink.port)  # the default batch size
        await migrate(settings)
        for _ in range(rounds):
            await queue_inquiries(settings, count // 2)
            messages = await rendered(settings)
            half = len(messages) // 2
            # Limit, worker, limit: the limit is timed on both sides of the worker.
            before, before_cpu = await bare_loop(messages[:half], sink.port)
            seconds, cpu, total = await worker_drain(settings)
            after, after_cpu = await bare_loop(messages[half:], sink.port)
            bare = before + after
            bare_seconds += bare
            bare_cpu += before_cpu + after_cpu
            worker_seconds += seconds
            worker_cpu += cpu
            sent += len(messages)
            drained += total
            round_ratios.append((total / seconds) / (len(messages) / bare))
        received = Counter(message_id for message_id, _ in sink.stop())
    finally:
        drop_database(url)
    return {
        "bare_rate": sent / bare_seconds,
        "worker_rate": drained / worker_seconds,
        "bare_cpu_us": bare_cpu / sent * 1e6,
        "worker_cpu_us": worker_cpu / drained * 1e6,
        "drained": drained,
        "round_ratios": round_ratios,
        # Each Message-ID should arrive exactly twice: once from the limit, once from the worker.
        "twice": sum(1 for seen in received.values() if seen == 2),
        "other": sum(1 for seen in received.values() if seen != 2),
    }


async def idle_latency(kind: str, work: Path, samples: int) -> list[float]:
    url = fresh_database(kind, work)
    sink = Sink(work)
    port = free_port()
    env = {
        **os.environ,
        "INQUIRY_DATABASE_URL": url,
        "INQUIRY_PORT": str(port),
        "INQUIRY_MAIL_TRANSPORT": "smtp",
        "INQUIRY_SMTP_HOST": "127.0.0.1",
        "INQUIRY_SMTP_PORT": str(sink.port),
        "INQUIRY_RATE_LIMIT_ENABLED": "false",
    }
    try:
        if kind != "sqlite":
            await migrate(settings_for(url, work, sink.port))
        cwd = work / f"serve-{kind}"
        cwd.mkdir()
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
            [sys.executable, "-m", "inquiry", "serve"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        answered: dict[str, float] = {}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                try:
                    await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            for i in range(samples):
                response = await client.post(
                    "/api/v1/inquiries", json={**BODY, "email": f"idle{i}@example.ca"}
                )
                answered[response.json()["reference"]] = time.time()
                await asyncio.sleep(0.3)  # idle between inquiries
        await asyncio.sleep(1)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        received = sink.stop()
    finally:
        drop_database(url)
    accepted = {m.strip("<>").split(".")[0]: t for m, t in received if "admin_notification" in m}
    return [accepted[ref] - at for ref, at in answered.items() if ref in accepted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--only", default="sqlite,postgres")
    args = parser.parse_args()
    print(
        f"{'database':<10} {'bare msg/s':>10} {'worker msg/s':>12} {'ratio':>6} "
        f"{'p50 201→SMTP':>13} {'p95':>7}  verdict"
    )
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for kind in args.only.split(","):
            rates = asyncio.run(throughput(kind, work, args.messages, args.rounds))
            delays = sorted(asyncio.run(idle_latency(kind, work, args.samples)))
            ratio = rates["worker_rate"] / rates["bare_rate"]
            p50 = statistics.median(delays) if delays else float("nan")
            p95 = delays[int(len(delays) * 0.95) - 1] if delays else float("nan")
            misses = (["ratio<0.8"] if ratio < 0.8 else []) + (["p50>1s"] if not p50 <= 1.0 else [])
            print(
                f"{kind:<10} {rates['bare_rate']:>10.0f} {rates['worker_rate']:>12.0f} "
                f"{ratio:>6.2f} {p50 * 1000:>10.0f} ms {p95 * 1000:>4.0f} ms  "
                f"{'PASS' if not misses else 'FAIL ' + ','.join(misses)}"
            )
            each = ", ".join(f"{ratio:.2f}" for ratio in rates["round_ratios"])
            print(
                f"{'':<10} rounds {each}; CPU of this process per message: limit "
                f"{rates['bare_cpu_us']:.0f} µs, worker {rates['worker_cpu_us']:.0f} µs"
            )
            print(
                f"{'':<10} drained {rates['drained']:.0f} of "
                f"{args.rounds * args.messages}; Message-IDs received twice (limit and worker) "
                f"{rates['twice']}, otherwise {rates['other']}; latency samples "
                f"{len(delays)}/{args.samples}"
            )


if __name__ == "__main__":
    main()
