"""Benchmark of the dashboard with 100,000 inquiries over 60 days (not a timed test).

Seeds the database directly with bulk inserts: inquiries of every topic (2% crisis) spread
over the last 60 days, the callback tasks they owe (first due as the business-hours calendar
says, a tenth of the open ones put off to later), one to three attempts on most tasks (the
first after a wait that grows as the priority falls), and an outbox message a sent inquiry
with a few dead ones. Then signs a staff member in with a console session cookie and drives
the page in process (httpx ASGITransport: cookie auth, every query, template rendering) and
prints p50/p95/p99 server time of
  - the dashboard:           GET /staff/dashboard
and, on their own session in the same run, of the three figures of how quickly the team
answers (service levels, median time to first attempt by priority, crisis inquiries), on
SQLite (a temporary file) and PostgreSQL (a throwaway database on 127.0.0.1:5432).

    .venv/bin/python tests/bench/dashboard_bench.py [--inquiries 100000] [--iterations 100]
        [--only sqlite,postgres] [--analyze]

Exits non-zero only if something crashes, never because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inquiry.app import create_app  # noqa: E402
from inquiry.callbacks.models import attempt_table, task_table  # noqa: E402
from inquiry.callbacks.schedule import calendar_for  # noqa: E402
from inquiry.callbacks.tasks import ranking  # noqa: E402
from inquiry.config import Settings  # noqa: E402
from inquiry.db import create_engine, migrate  # noqa: E402
from inquiry.models import inquiry_table, outbox_table  # noqa: E402
from inquiry.staff import response_times  # noqa: E402
from inquiry.staff.dashboard import SERVICE_LEVEL_DAYS  # noqa: E402
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, Priority, Topic  # noqa: E402
from tests.bench.console_bench import backend, session_of, timed  # noqa: E402
from tests.bench.queue_bench import percentiles  # noqa: E402

TARGET_P95_MS = 200.0
CHUNK = 5000
DAYS = 60
TOPICS = (
    [Topic.CRISIS] * 2
    + [Topic.CLINICAL] * 10
    + [Topic.NEW_PATIENT] * 35
    + [Topic.APPOINTMENT] * 20
    + [Topic.BILLING] * 10
    + [Topic.REFERRAL] * 5
    + [Topic.GENERAL] * 15
    + [Topic.SPAM] * 3
)
# Mean wait for a first attempt: urgent calls within minutes, low ones within a day or two.
MEAN_WAIT = {
    Priority.URGENT: timedelta(minutes=20),
    Priority.HIGH: timedelta(hours=2),
    Priority.NORMAL: timedelta(hours=8),
    Priority.LOW: timedelta(hours=30),
}
FIGURES = ("service levels", "first attempt by priority", "crisis inquiries")


def _rows(count: int, staff_id: int, settings: Settings) -> dict[sa.Table, list[dict[str, Any]]]:
    rng = random.Random(22)  # noqa: S311 - test data
    calendar = calendar_for(settings)
    now = datetime.now(UTC)
    inquiries: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    mail: list[dict[str, Any]] = []
    for i in range(1, count + 1):
        created = now - timedelta(minutes=rng.randrange(0, DAYS * 24 * 60))
        topic = rng.choice(TOPICS)
        priority = PRIORITY_OF_TOPIC[topic]
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
                "topic": topic.value,
                "priority": priority.value,
                "crisis": topic is Topic.CRISIS,
                "triage_reasons": "[]",
            }
        )
        mail.append(
            {
                "inquiry_id": i,
                "kind": "admin_notification",
                "recipient": "admin@clinic.ca",
                "message_id": f"<{i}.admin@clinic.ca>",
                "status": "dead" if i % 5000 == 0 else "sent",
                "attempts": 1,
                "next_attempt_at": created,
                "created_at": created,
            }
        )
        if topic is Topic.SPAM or (topic is Topic.GENERAL and i % 2):
            continue
        first_due = calendar.due_at(priority, created)
        made: list[datetime] = []
        at = created + timedelta(seconds=rng.expovariate(1 / MEAN_WAIT[priority].total_seconds()))
        while at < now and len(made) < rng.choice((1, 1, 2, 3)):
            made.append(at)
            at += timedelta(days=1)
        done = bool(made) and rng.random() < 0.7
        task_id = len(tasks) + 1
        tasks.append(
            {
                "id": task_id,
                "inquiry_id": i,
                "phone": "+14165550199",
                "name": "Visitor",
                "language": "en",
                "callback_window": "any",
                "voicemail_ok": True,
                **ranking(priority),
                "status": "done" if done else "open",
                "created_at": created,
                "due_at": first_due + timedelta(days=2) if not done and i % 10 == 0 else first_due,
                "first_due_at": first_due,
                "next_attempt_at": made[-1] if made else created,
                "attempts": len(made),
                "first_attempt_at": made[0] if made else None,
                "counted_attempts": len(made),
                "closed_at": made[-1] if done else None,
                "close_reason": "reached" if done else None,
            }
        )
        attempts += [
            {"task_id": task_id, "staff_id": staff_id, "at": moment, "outcome": "no_answer"}
            for moment in made
        ]
    return {
        inquiry_table: inquiries,
        task_table: tasks,
        attempt_table: attempts,
        outbox_table: mail,
    }


async def seed(settings: Settings, count: int, staff_id: int, *, analyze: bool) -> float:
    started = time.perf_counter()
    tables = _rows(count, staff_id, settings)
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for table, rows in tables.items():
                for start in range(0, len(rows), CHUNK):
                    await connection.execute(sa.insert(table), rows[start : start + CHUNK])
            if connection.dialect.name == "postgresql":
                for table in (inquiry_table, task_table):
                    await connection.execute(
                        sa.text(f"SELECT setval('{table.name}_id_seq', :n)"),  # noqa: S608
                        {"n": len(tables[table])},
                    )
        if analyze:  # what autovacuum would do; without it, the plans must still be right
            async with engine.begin() as connection:
                await connection.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


def figures(app: Any, now: datetime) -> dict[str, Callable[[], Awaitable[object]]]:
    """Each figure of how quickly the team answers, run on a session of its own."""
    zone = ZoneInfo(app.state.settings.clinic_timezone)
    today = now.astimezone(zone).date()

    def start(days: int) -> datetime:
        day = today - timedelta(days=days - 1)
        return datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)

    async def run(query: Callable[[Any], Awaitable[object]]) -> object:
        async with app.state.sessions() as session:
            return await query(session)

    return {
        "service levels": lambda: run(
            lambda s: response_times.service_levels(
                s, since={n: start(n) for n in SERVICE_LEVEL_DAYS}, now=now
            )
        ),
        "first attempt by priority": lambda: run(
            lambda s: response_times.first_attempts(s, since=start(30))
        ),
        "crisis inquiries": lambda: run(lambda s: response_times.crisis_calls(s, since=start(30))),
    }


async def measure(settings: Settings, count: int, iterations: int, *, analyze: bool) -> Any:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        staff_id, token = await session_of(app)
        seconds = await seed(settings, count, staff_id, analyze=analyze)
        print(f"{settings.database_url.split(':')[0]}: seeded {count:,} in {seconds:.1f}s")
        cookie = {"Cookie": f"inquiry_session={token}"}
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
        samples: dict[str, list[float]] = {name: [] for name in ("dashboard", *FIGURES)}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            page = await client.get("/staff/dashboard", headers=cookie)
            assert "data-service-level" in page.text, page.text[:500]
            for i in range(iterations + 5):
                elapsed = {"dashboard": await timed(client, "/staff/dashboard", cookie)}
                for name, query in figures(app, datetime.now(UTC)).items():
                    started = time.perf_counter()
                    await query()
                    elapsed[name] = (time.perf_counter() - started) * 1000
                if i >= 5:
                    for name, value in elapsed.items():
                        samples[name].append(value)
    return {name: percentiles(values) for name, values in samples.items()}


async def run(names: list[str], count: int, iterations: int, *, analyze: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        async with backend(name) as settings:
            await migrate(settings)
            results[name] = await measure(settings, count, iterations, analyze=analyze)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inquiries", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--only", default="sqlite,postgres")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE after seeding")
    args = parser.parse_args()
    results = asyncio.run(
        run(args.only.split(","), args.inquiries, args.iterations, analyze=args.analyze)
    )
    print(
        f"\n{'database':<10} {'what':<26} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7}  target p95 <= {TARGET_P95_MS:.0f} ms"
    )
    for name, measured in results.items():
        for what, f in measured.items():
            verdict = "" if what in FIGURES else "ok" if f["p95"] <= TARGET_P95_MS else "MISSED"
            print(
                f"{name:<10} {what:<26} {f['p50']:7.2f} {f['p95']:7.2f} {f['p99']:7.2f} "
                f"{f['max']:7.2f}  {verdict}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
