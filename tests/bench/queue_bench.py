"""Benchmark of the callback queue with 100,000 inquiries and tasks (not a timed test).

Seeds the database directly with bulk inserts, then drives the staff API in process (httpx
ASGITransport: auth, audit entry and commit included) and prints p50/p95/p99 of
  - the first page (50) of the open queue:  GET  /api/v1/staff/callbacks?limit=50
  - the first page (50) of email tasks:      GET  /api/v1/staff/callbacks?channel=email&limit=50
  - claim next:                              POST /api/v1/staff/callbacks/claim-next
30% of the tasks are email tasks, and 5% of the urgent ones await an admin's decision.
on SQLite (a temporary file) and PostgreSQL (a throwaway database on 127.0.0.1:5432).

    .venv/bin/python tests/bench/queue_bench.py [--tasks 100000] [--iterations 500]
        [--only sqlite,postgres]

Exits non-zero only if something crashes, never because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inquiry.app import create_app  # noqa: E402
from inquiry.audit import Caller  # noqa: E402
from inquiry.callbacks.models import task_table  # noqa: E402
from inquiry.callbacks.schedule import calendar_for  # noqa: E402
from inquiry.callbacks.tasks import ranking  # noqa: E402
from inquiry.config import Settings  # noqa: E402
from inquiry.db import create_engine, migrate  # noqa: E402
from inquiry.models import StaffRole, inquiry_table  # noqa: E402
from inquiry.staff.service import StaffService  # noqa: E402
from inquiry.triage.taxonomy import Priority  # noqa: E402

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "inquiry_queue_bench"
TARGET_P95_MS = 20.0
QUEUE = "/api/v1/staff/callbacks"
CHUNK = 5000
# Roughly what the clinic sees: few urgent, most normal.
EMAIL_SHARE = 0.3  # tasks answered by email
AWAITING_SHARE = 0.05  # of urgent tasks: awaiting an admin's decision
PRIORITIES = (
    [Priority.URGENT] * 2 + [Priority.HIGH] * 20 + [Priority.NORMAL] * 58 + [Priority.LOW] * 20
)


def _rows(count: int, settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(5)  # noqa: S311 - test data
    calendar = calendar_for(settings)
    now = datetime.now(UTC)
    inquiries, tasks = [], []
    for i in range(1, count + 1):
        created = now - timedelta(minutes=rng.randrange(0, 90 * 24 * 60))
        priority = rng.choice(PRIORITIES)
        channel = "email" if rng.random() < EMAIL_SHARE else "phone"
        # A few urgent calls that ran out of attempts sit at the top, passed over by claims.
        awaiting = priority is Priority.URGENT and rng.random() < AWAITING_SHARE
        inquiries.append(
            {
                "id": i,
                "reference": f"INQ-{i:06d}",
                "created_at": created,
                "status": "new",
                "name": "Visitor",
                "email": f"v{i}@example.ca",
                "phone": "+14165550199",
                "preferred_contact": "phone",
                "callback_window": "any",
                "voicemail_ok": True,
                "subject": "Call me",
                "message": "Please call me about treatment.",
                "language": "en",
                "consent": True,
                "source": "api",
                "topic": "new_patient",
                "priority": priority.value,
                "crisis": priority is Priority.URGENT,
                "triage_reasons": "[]",
            }
        )
        tasks.append(
            {
                "inquiry_id": i,
                "channel": channel,
                "phone": "+14165550199" if channel == "phone" else None,
                "email": f"v{i}@example.ca",
                "name": "Visitor",
                "language": "en",
                "callback_window": "any",
                "voicemail_ok": True,
                **ranking(priority),
                "status": "awaiting_decision" if awaiting else "open",
                "created_at": created,
                "due_at": calendar.due_at(priority, created),
                "first_due_at": calendar.due_at(priority, created),
                "next_attempt_at": created,
                "attempts": 5 if awaiting else 0,
                "counted_attempts": 5 if awaiting else 0,
                "extra_attempts": 0,
            }
        )
    return inquiries, tasks


async def seed(settings: Settings, count: int, *, analyze: bool) -> float:
    started = time.perf_counter()
    inquiries, tasks = _rows(count, settings)
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for table, rows in ((inquiry_table, inquiries), (task_table, tasks)):
                for start in range(0, len(rows), CHUNK):
                    await connection.execute(sa.insert(table), rows[start : start + CHUNK])
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    sa.text("SELECT setval('inquiry_id_seq', :n)"), {"n": count}
                )
        if analyze:  # what autovacuum would do; without it, the plans must still be right
            async with engine.begin() as connection:
                await connection.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def staff_token(app: Any) -> str:
    async with app.state.sessions() as session, session.begin():
        caller = Caller(staff=None, client_ip="bench", now=datetime.now(UTC))
        accounts = StaffService(session, app.state.settings, caller)
        staff = await accounts.create(email="bench@clinic.ca", role=StaffRole.AGENT)
        return (await accounts.mint_token(staff, label="bench")).secret


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(samples)}


async def measure(settings: Settings, iterations: int) -> dict[str, dict[str, float]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        headers = {"Authorization": f"Bearer {await staff_token(app)}"}
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            page: list[float] = []
            emails: list[float] = []
            claims: list[float] = []
            for i in range(iterations + 20):
                started = time.perf_counter()
                response = await client.get(f"{QUEUE}?limit=50", headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200
                assert len(response.json()["tasks"]) == 50
                if i >= 20:
                    page.append(elapsed)
            for i in range(iterations + 20):
                started = time.perf_counter()
                response = await client.get(f"{QUEUE}?channel=email&limit=50", headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200
                assert len(response.json()["tasks"]) == 50
                if i >= 20:
                    emails.append(elapsed)
            for i in range(iterations + 20):
                started = time.perf_counter()
                response = await client.post(f"{QUEUE}/claim-next", headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                task = response.json()["task"]
                assert response.status_code == 200
                assert task is not None
                if i >= 20:
                    claims.append(elapsed)
                # The call is made and recorded (not timed): the queue moves on as in real use.
                outcome = "reached" if task["channel"] == "phone" else "replied"
                await client.post(
                    f"{QUEUE}/{task['id']}/attempts", json={"outcome": outcome}, headers=headers
                )
    return {
        "queue page (50)": percentiles(page),
        "email tasks page (50)": percentiles(emails),
        "claim next": percentiles(claims),
    }


@asynccontextmanager
async def backend(name: str) -> AsyncIterator[Settings]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            yield Settings(_env_file=None, database_url=url, worker_in_process=False)
        return
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DATABASE}"
        yield Settings(_env_file=None, database_url=url, worker_in_process=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        await admin.close()


async def run(names: list[str], count: int, iterations: int, *, analyze: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        async with backend(name) as settings:
            await migrate(settings)
            seconds = await seed(settings, count, analyze=analyze)
            print(f"{name}: seeded {count:,} inquiries and tasks in {seconds:.1f}s", flush=True)
            results[name] = await measure(settings, iterations)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--only", default="sqlite,postgres")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE after seeding")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    results = asyncio.run(
        run(args.only.split(","), args.tasks, args.iterations, analyze=args.analyze)
    )
    print(
        f"\n{'database':<10} {'operation':<16} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7}  target p95 <= {TARGET_P95_MS:.0f} ms"
    )
    for name, operations in results.items():
        for operation, figures in operations.items():
            verdict = "ok" if figures["p95"] <= TARGET_P95_MS else "MISSED"
            print(
                f"{name:<10} {operation:<16} {figures['p50']:7.2f} {figures['p95']:7.2f} "
                f"{figures['p99']:7.2f} {figures['max']:7.2f}  {verdict}"
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
