"""Soak benchmark: the service under mixed load for a chosen number of minutes, with faults
injected on a schedule, then an account of every submission and every email (not a test).

Real processes: two `inquiry serve` (one delivering mail itself, one not), one `inquiry
worker`, and an SMTP sink in a process of its own (tests/system). Load: API and hosted-form
submissions at --rate a second against both servers, and an agent claiming the next call
and recording an attempt in a loop. Faults, one every --fault-every seconds, in turn:
kill -9 of the first server (restarted), kill -9 of the worker (restarted), every database
connection cut each 0.1 s for 5 s, SIGTERM of the second server (restarted), the mail
server hanging for 5 s. At the end the load stops, everything is restarted, and the script
waits (at most --settle seconds) for the mail owed, then prints:

  accepted    submissions answered 201 or 303
  stored      of those, inquiries found in the database
  refused     submissions answered 503 (and how many of them were stored: must be 0)
  owed        outbox messages in the database
  delivered   owed messages the SMTP sink accepted at least once
  duplicates  acceptances beyond the first
  lost        accepted but not stored, plus owed but never delivered

    .venv/bin/python tests/bench/soak_bench.py --minutes 10 [--database postgres|sqlite]
        [--rate 20] [--fault-every 30] [--settle 180]

Exits non-zero when something was lost or stored after a 503.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import scratch_pg_database  # noqa: E402
from tests.system.harness import (  # noqa: E402
    ROOT,
    Load,
    Process,
    Serve,
    SmtpSink,
    database_engine,
    delivery,
    service_env,
    smtp_sink,
    start_serve,
    start_worker,
    stored_emails,
)


class Cluster:
    """The processes under test, restarted after each fault."""

    def __init__(self, database_url: str, sink: SmtpSink, folder: Path) -> None:
        self.database_url = database_url
        self.sink = sink
        self.folder = folder
        self.delivering = service_env(database_url, sink, INQUIRY_WORKER_IN_PROCESS="true")
        self.plain = service_env(database_url, sink, INQUIRY_WORKER_IN_PROCESS="false")
        self.first: Serve = start_serve(self.delivering, folder)
        self.second: Serve = start_serve(self.plain, folder)
        self.worker: Process = start_worker(self.plain, folder)
        self.turn = itertools.count()
        self.faults: Counter[str] = Counter()

    def base(self) -> str:
        return (self.first if next(self.turn) % 2 else self.second).base

    def restart_first(self) -> None:
        self.first = start_serve(self.delivering, self.folder, self.first.port)

    def restart_second(self) -> None:
        self.second = start_serve(self.plain, self.folder, self.second.port)

    def stop(self) -> list[int]:
        return [
            process.terminate()
            for process in (self.first.process, self.second.process, self.worker)
            if process.popen.poll() is None
        ]


async def cut_connections(database_url: str, seconds: float) -> int:
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    cuts = 0
    try:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            cuts += int(
                await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    return cuts


async def inject_faults(cluster: Cluster, every: float, until: float) -> None:
    postgres = cluster.database_url.startswith("postgresql")
    for number in itertools.count():
        await asyncio.sleep(every)
        if time.monotonic() >= until:
            return
        fault = number % 5
        if fault == 0:
            cluster.first.process.kill()
            cluster.faults["kill -9 serve"] += 1
            await asyncio.sleep(1)
            await asyncio.to_thread(cluster.restart_first)
        elif fault == 1:
            cluster.worker.kill()
            cluster.faults["kill -9 worker"] += 1
            await asyncio.sleep(1)
            cluster.worker = start_worker(cluster.plain, cluster.folder)
        elif fault == 2 and postgres:
            cuts = await cut_connections(cluster.database_url, 5)
            cluster.faults["connections cut"] += cuts
        elif fault == 3:
            code = await asyncio.to_thread(cluster.second.process.terminate)
            cluster.faults[f"SIGTERM serve (exit {code})"] += 1
            await asyncio.to_thread(cluster.restart_second)
        elif fault == 4:
            cluster.sink.hang()
            await asyncio.sleep(5)
            cluster.sink.release()
            cluster.faults["SMTP hang 5 s"] += 1


async def submit(load: Load, rate: float, until: float) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        pending: set[asyncio.Task[object]] = set()
        while time.monotonic() < until:
            task = asyncio.create_task(load.submit(client))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*pending)


async def call_back(cluster: Cluster, token: str, until: float) -> Counter[str]:
    """An agent working the queue: claim the next call, record an attempt."""
    done: Counter[str] = Counter()
    staff = {"Authorization": f"Bearer {token}"}
    outcomes = itertools.cycle(["no_answer", "reached", "voicemail", "wrong_number"])
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < until:
            base = cluster.base()
            try:
                claim = await client.post(
                    f"{base}/api/v1/staff/callbacks/claim-next", headers=staff
                )
                done[f"claim {claim.status_code}"] += 1
                task = claim.json().get("task") if claim.status_code == 200 else None
                if task is None:
                    await asyncio.sleep(0.5)
                    continue
                attempt = await client.post(
                    f"{base}/api/v1/staff/callbacks/{task['id']}/attempts",
                    json={"outcome": next(outcomes)},
                    headers=staff,
                )
                done[f"attempt {attempt.status_code}"] += 1
            except httpx.TransportError:
                done["no answer"] += 1
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.2)
    return done


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

    staff("add", "soak@ketaminetherapyclinic.ca", "--no-password")
    return staff("token", "soak@ketaminetherapyclinic.ca").strip().split()[-1]


async def soak(database_url: str, folder: Path, args: argparse.Namespace) -> int:
    with smtp_sink(folder) as sink:
        cluster = await asyncio.to_thread(Cluster, database_url, sink, folder)
        token = await asyncio.to_thread(staff_token, cluster.plain)
        load = Load(cluster.base)
        started = time.monotonic()
        until = started + args.minutes * 60
        print(f"soak: {args.minutes:g} min on {database_url.split(':')[0]}", flush=True)
        faults = asyncio.create_task(inject_faults(cluster, args.fault_every, until))
        staff_work = asyncio.create_task(call_back(cluster, token, until))
        await submit(load, args.rate, until)
        await faults
        calls = await staff_work

        # Everything up again, then wait for the mail owed.
        for serve, restart in (
            (cluster.first, cluster.restart_first),
            (cluster.second, cluster.restart_second),
        ):
            if serve.process.popen.poll() is not None:
                await asyncio.to_thread(restart)
        if cluster.worker.popen.poll() is not None:
            cluster.worker = start_worker(cluster.plain, folder)
        sink.release()
        engine = database_engine(database_url)
        try:
            settle_until = time.monotonic() + args.settle
            while True:
                found = await delivery(engine, sink)
                if found.lost == 0 or time.monotonic() > settle_until:
                    break
                await asyncio.sleep(1)
            stored = await stored_emails(engine)
        finally:
            await engine.dispose()
            exit_codes = await asyncio.to_thread(cluster.stop)

    accepted = load.accepted()
    refused = load.refused()
    lost_inquiries = len(accepted - stored)
    figures = {
        "minutes": round((time.monotonic() - started) / 60, 1),
        "submissions": len(load.outcomes),
        "statuses": dict(sorted(load.statuses().items(), key=str)),
        "accepted": len(accepted),
        "stored": len(accepted & stored),
        "refused": len(refused),
        "stored after 503": len(refused & stored),
        "owed": found.owed,
        "delivered": found.delivered,
        "duplicates": found.duplicates,
        "lost": lost_inquiries + found.lost,
        "outbox": dict(found.statuses),
        "staff": dict(calls),
        "faults": dict(cluster.faults),
        "exit codes at the end": exit_codes,
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    return 1 if figures["lost"] or figures["stored after 503"] else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--rate", type=float, default=20.0, help="submissions a second")
    parser.add_argument("--fault-every", type=float, default=30.0, help="seconds between faults")
    parser.add_argument(
        "--settle", type=float, default=180.0, help="most seconds to wait at the end"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        if args.database == "sqlite":
            return asyncio.run(soak(f"sqlite+aiosqlite:///{folder}/inquiry.db", Path(folder), args))
        with scratch_pg_database("inquiry_soak") as database_url:
            subprocess.run(
                [sys.executable, "-m", "inquiry", "migrate"],
                cwd=ROOT,
                env={**os.environ, "INQUIRY_DATABASE_URL": database_url},
                check=True,
                capture_output=True,
            )
            return asyncio.run(soak(database_url, Path(folder), args))


if __name__ == "__main__":
    sys.exit(main())
