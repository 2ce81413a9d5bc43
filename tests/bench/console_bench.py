"""Benchmark of the staff console's queue page and call screen with 100,000 inquiries and
tasks (not a timed test).

Seeds the database as queue_bench.py does, signs a staff member in with a console session
cookie, then drives the pages in process (httpx ASGITransport: cookie auth, audit entries,
template rendering and commit included) and prints p50/p95/p99 server time of
  - the queue page:    GET /staff            (the first 50 tasks in call order)
  - the call screen:   GET /staff/tasks/{id} (a different task each time)
and, interleaved with them as a reference on the same machine at the same moment, the staff
API's JSON for the same data (GET /api/v1/staff/callbacks?limit=50, GET …/callbacks/{id}),
the queue page's poll (GET /staff/queue/version, asked every second by an open queue page),
and what the queue page's first load transfers (the page and its one script; nothing else is
loaded), on SQLite (a temporary file) and PostgreSQL (a throwaway database on 127.0.0.1).

Then, on a database seeded as inquiries_bench.py seeds it (inquiries in every status with
their tasks and contact keys, 100,000 by default), the pages that find and show inquiries:
  - the inquiry page:  GET /staff/inquiries/{reference} (a different inquiry each time)
  - search by phone:   GET /staff/search?q=(416) 234-5678 (the 303 to its page, or a list)
  - search by name:    GET /staff/search?q=<full name> (a list of matches, or the 303)
  - the inquiries list: GET /staff/inquiries?status=in_progress (its first page of 50)

    .venv/bin/python tests/bench/console_bench.py [--tasks 100000] [--iterations 300]
        [--only sqlite,postgres] [--pages queue,inquiries]

Exits non-zero only if something crashes, never because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inquiry.app import create_app  # noqa: E402
from inquiry.audit import Caller  # noqa: E402
from inquiry.config import Settings  # noqa: E402
from inquiry.console.calls import QUEUE_SIZE  # noqa: E402
from inquiry.db import migrate  # noqa: E402
from inquiry.models import StaffRole, TokenKind, inquiry_table  # noqa: E402
from inquiry.staff.service import StaffService  # noqa: E402
from tests.bench import inquiries_bench  # noqa: E402
from tests.bench.queue_bench import PG_ADMIN_DSN, percentiles, seed  # noqa: E402

TARGET_P95_MS = 50.0
TARGET_FIRST_LOAD_BYTES = 100_000
API = "/api/v1/staff/callbacks"
PAGES = ("queue page", "queue API", "call screen", "call API", "queue poll")
FINDING = ("inquiry page", "search phone", "search name", "inquiries list")


async def session_token(app: Any) -> str:
    return (await session_of(app))[1]


async def session_of(app: Any) -> tuple[int, str]:
    """A staff account and a console session of it: (its id, the session's secret)."""
    async with app.state.sessions() as session, session.begin():
        caller = Caller(staff=None, client_ip="bench", now=datetime.now(UTC))
        accounts = StaffService(session, app.state.settings, caller)
        staff = await accounts.create(email="console-bench@clinic.ca", role=StaffRole.AGENT)
        minted = await accounts.mint_token(
            staff, kind=TokenKind.SESSION, label="bench", lifetime=timedelta(hours=1)
        )
        assert staff.id is not None
        return staff.id, minted.secret


async def timed(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], status: int = 200
) -> float:
    started = time.perf_counter()
    response = await client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == status, (url, response.status_code, response.text[:500])
    return elapsed


async def measure_finding(settings: Settings, count: int, iterations: int) -> dict[str, Any]:
    """The inquiry page, Search and the inquiries list over `count` seeded inquiries."""
    app = create_app(settings)
    rng = random.Random(11)  # noqa: S311 - which inquiries to open
    async with app.router.lifespan_context(app):
        staff_id, token = await session_of(app)
        await inquiries_bench.seed(settings, count, staff_id, analyze=False)
        rows = inquiries_bench._rows(count, staff_id)[inquiry_table]
        cookie = {"Cookie": f"inquiry_session={token}"}
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
        samples: dict[str, list[float]] = {name: [] for name in FINDING}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for i in range(iterations + 20):
                row = rows[rng.randrange(len(rows))]
                phone = httpx.QueryParams({"q": inquiries_bench._spoken(row["phone"])})
                name = httpx.QueryParams({"q": row["name"]})
                # One match answers 303, several 200: seeded phones and names repeat.
                by_phone = await client.get(f"/staff/search?{phone}", headers=cookie)
                by_name = await client.get(f"/staff/search?{name}", headers=cookie)
                times = {
                    "inquiry page": await timed(
                        client, f"/staff/inquiries/{row['reference']}", cookie
                    ),
                    "search phone": await timed(
                        client, f"/staff/search?{phone}", cookie, by_phone.status_code
                    ),
                    "search name": await timed(
                        client, f"/staff/search?{name}", cookie, by_name.status_code
                    ),
                    "inquiries list": await timed(
                        client, "/staff/inquiries?status=in_progress", cookie
                    ),
                }
                if i >= 20:
                    for page, elapsed in times.items():
                        samples[page].append(elapsed)
    return {name: percentiles(values) for name, values in samples.items()}


async def measure(settings: Settings, count: int, iterations: int) -> dict[str, Any]:
    app = create_app(settings)
    rng = random.Random(7)  # noqa: S311 - which tasks to open
    async with app.router.lifespan_context(app):
        token = await session_token(app)
        cookie = {"Cookie": f"inquiry_session={token}"}
        bearer = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
        samples: dict[str, list[float]] = {name: [] for name in PAGES}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            first = await client.get("/staff", headers=cookie)
            script = await client.get("/staff/static/console.js", headers=cookie)
            first_load = len(first.content) + len(script.content)
            for i in range(iterations + 20):
                task_id = rng.randrange(1, count + 1)
                times = {
                    "queue page": await timed(client, "/staff", cookie),
                    "queue API": await timed(client, f"{API}?limit={QUEUE_SIZE}", bearer),
                    "call screen": await timed(client, f"/staff/tasks/{task_id}", cookie),
                    "call API": await timed(client, f"{API}/{task_id}", bearer)
                    + await timed(client, f"/api/v1/staff/inquiries/{task_id}", bearer),
                    "queue poll": await timed(client, "/staff/queue/version", cookie),
                }
                if i >= 20:
                    for name, elapsed in times.items():
                        samples[name].append(elapsed)
    return {name: percentiles(values) for name, values in samples.items()} | {
        "first load bytes": first_load
    }


@asynccontextmanager
async def backend(name: str) -> AsyncIterator[Settings]:
    """A temporary SQLite file, or a PostgreSQL database of its own name (benchmarks of other
    checkouts may run on the same server at the same time)."""
    if name == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            yield Settings(_env_file=None, database_url=url, worker_in_process=False)
        return
    database = f"inquiry_console_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
        yield Settings(_env_file=None, database_url=url, worker_in_process=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def run(names: list[str], count: int, iterations: int, pages: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        results[name] = {}
        if "queue" in pages:
            async with backend(name) as settings:
                await migrate(settings)
                seconds = await seed(settings, count, analyze=False)
                print(f"{name}: seeded {count:,} inquiries and tasks in {seconds:.1f}s")
                results[name] |= await measure(settings, count, iterations)
        if "inquiries" in pages:
            async with backend(name) as settings:
                await migrate(settings)
                results[name] |= await measure_finding(settings, count, iterations)
                print(f"{name}: inquiry page and search measured", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--only", default="sqlite,postgres")
    parser.add_argument("--pages", default="queue,inquiries")
    args = parser.parse_args()
    pages = args.pages.split(",")
    results = asyncio.run(run(args.only.split(","), args.tasks, args.iterations, pages))
    print(
        f"\n{'database':<10} {'page':<12} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7}  target p95 <= {TARGET_P95_MS:.0f} ms"
    )
    for name, figures in results.items():
        for page in (*PAGES, *FINDING):
            if page not in figures:
                continue
            f = figures[page]
            verdict = "" if "API" in page else "ok" if f["p95"] <= TARGET_P95_MS else "MISSED"
            print(
                f"{name:<10} {page:<12} {f['p50']:7.2f} {f['p95']:7.2f} {f['p99']:7.2f} "
                f"{f['max']:7.2f}  {verdict}"
            )
        if "first load bytes" not in figures:
            continue
        size = figures["first load bytes"]
        verdict = "ok" if size <= TARGET_FIRST_LOAD_BYTES else "MISSED"
        print(f"{name:<10} first load of the queue page: {size:,} bytes  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
