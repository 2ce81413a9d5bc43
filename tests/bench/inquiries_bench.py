"""Benchmark of the staff inquiry list and search with 100,000 inquiries (not a timed test).

Seeds the database directly with bulk inserts (inquiries in every status with their callback
tasks and contact keys, names drawn from 200 first and 500 last names, messages of a usual
length), then drives the staff API in process (httpx ASGITransport: auth, audit entry and
commit included) and prints p50/p95/p99 of
  - the first page (50) of the list, of in-progress inquiries, and of the caller's own
  - a search by phone number written otherwise than it was submitted ("(416) 234-5678")
  - a search by full name, by a first name alone (hundreds match), by email, by reference
  - one inquiry read by its reference
on SQLite (a temporary file) and PostgreSQL (a throwaway database on 127.0.0.1:5432).

    .venv/bin/python tests/bench/inquiries_bench.py [--inquiries 100000] [--iterations 300]
        [--only sqlite,postgres] [--analyze]

Exits non-zero only if something crashes, never because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inquiry.app import create_app  # noqa: E402
from inquiry.audit import Caller  # noqa: E402
from inquiry.callbacks.models import task_table  # noqa: E402
from inquiry.callbacks.tasks import ranking  # noqa: E402
from inquiry.config import Settings  # noqa: E402
from inquiry.contacts import contact_keys, name_words  # noqa: E402
from inquiry.db import create_engine, migrate  # noqa: E402
from inquiry.models import StaffRole, contact_key_table, inquiry_table  # noqa: E402
from inquiry.staff.service import StaffService  # noqa: E402
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, Topic  # noqa: E402
from tests.bench.queue_bench import backend, percentiles  # noqa: E402

TARGET_P95_MS = 20.0
LIST = "/api/v1/staff/inquiries"
CHUNK = 5000
FIRST = [
    a + b
    for a in ("Ma", "Jo", "Da", "Le", "Sa", "Ro", "Ka", "Na", "Pa", "Ti")
    for b in ("rie", "n", "na", "o", "ra", "se", "nia", "dia", "ul", "m")
    + ("lie", "ri", "vid", "a", "ndra", "bert", "rl", "than", "tricia", "nie")
]
LAST = [
    a + b
    for a in ("Trem", "Gag", "Bou", "Côt", "Pel", "Lav", "For", "Mor", "Ber", "Gir", "Lef")
    + ("Mar", "Nguy", "Sing", "Pat", "Smi", "Wil", "Bro", "Tay", "And", "Tho", "Whi", "Har")
    + ("Cla", "Lew")
    for b in ("blay", "non", "chard", "é", "letier", "oie", "tin", "eau", "nard", "ard")
    + ("ebvre", "chand", "en", "h", "el", "th", "son", "wn", "lor", "erson")
]
MESSAGE = (
    "Hello, my family doctor suggested I ask about ketamine therapy for depression that has "
    "not improved after two medications. Could you tell me how the first assessment works, "
    "how long the wait is at the moment, and whether any of it is covered by OHIP or by my "
    "work insurance? I am usually free on weekday afternoons. Thank you."
)
# (status, close reason, weight): most inquiries are finished after a while.
STATUSES = [
    ("closed", "resolved", 55),
    ("closed", "unreachable", 8),
    ("closed", "no_action_needed", 5),
    ("closed", "spam", 2),
    ("new", None, 15),
    ("in_progress", None, 12),
    ("waiting", None, 3),
]
# Exchanges as numbering plans allot them (none ends in 11: those are service codes).
EXCHANGES = [n for n in range(200, 1000) if n % 100 != 11]
TOPICS = [Topic.NEW_PATIENT, Topic.APPOINTMENT, Topic.CLINICAL, Topic.BILLING, Topic.GENERAL]


def _rows(count: int, staff_id: int) -> dict[sa.Table, list[dict[str, Any]]]:
    rng = random.Random(18)  # noqa: S311 - test data
    now = datetime.now(UTC)
    statuses = [(s, r) for s, r, weight in STATUSES for _ in range(weight)]
    inquiries, tasks, keys = [], [], []
    for i in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        status, reason = rng.choice(statuses)
        topic = rng.choice(TOPICS)
        created = now - timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        name = f"{first} {last}"
        exchange = rng.choice(EXCHANGES)
        phone = f"+1{rng.choice(('416', '647', '905'))}{exchange}{i % 10000:04d}"
        email = f"{'.'.join(name_words(name))}{i}@example.ca"
        inquiries.append(
            {
                "id": i,
                "reference": f"INQ-{i:06d}",
                "created_at": created,
                "status": status,
                "close_reason": reason,
                "waiting_until": now + timedelta(days=7) if status == "waiting" else None,
                "assignee_id": staff_id if status == "in_progress" and i % 10 == 0 else None,
                "quarantine_reason": "triage_spam" if reason == "spam" else None,
                "name": name,
                "email": email,
                "phone": phone,
                "preferred_contact": "phone" if i % 2 else "email",
                "callback_window": "any",
                "voicemail_ok": True,
                "subject": "Question about treatment",
                "message": MESSAGE,
                "language": "en",
                "consent": True,
                "source": "api",
                "topic": topic.value,
                "priority": PRIORITY_OF_TOPIC[topic].value,
                "crisis": False,
                "triage_reasons": "[]",
            }
        )
        keys += [
            {"key": key, "inquiry_id": i}
            for key in contact_keys(name=name, email=email, phone=phone)
        ]
        if i % 2 and reason != "spam":
            done = status == "closed"
            tasks.append(
                {
                    "inquiry_id": i,
                    "phone": phone,
                    "name": name,
                    "language": "en",
                    "callback_window": "any",
                    "voicemail_ok": True,
                    **ranking(PRIORITY_OF_TOPIC[topic]),
                    "status": "done" if done else "open",
                    "created_at": created,
                    "due_at": created,
                    "first_due_at": created,
                    "next_attempt_at": created,
                    "attempts": 1 if done else 0,
                    "closed_at": created if done else None,
                    "close_reason": "reached" if done else None,
                }
            )
    return {inquiry_table: inquiries, task_table: tasks, contact_key_table: keys}


async def seed(settings: Settings, count: int, staff_id: int, *, analyze: bool) -> float:
    started = time.perf_counter()
    tables = _rows(count, staff_id)
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for table, rows in tables.items():
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


async def staff_account(settings: Settings) -> tuple[int, str]:
    app = create_app(settings)
    async with app.router.lifespan_context(app), app.state.sessions() as session:
        async with session.begin():
            caller = Caller(staff=None, client_ip="bench", now=datetime.now(UTC))
            accounts = StaffService(session, settings, caller)
            staff = await accounts.create(email="bench@clinic.ca", role=StaffRole.AGENT)
            minted = await accounts.mint_token(staff, label="bench")
            assert staff.id is not None
            return staff.id, minted.secret


def _spoken(e164: str) -> str:
    """+14162345678 as a visitor says it: (416) 234-5678."""
    digits = e164[2:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def operations(rows: list[dict[str, Any]]) -> dict[str, Callable[[random.Random], str]]:
    """Each operation: a function drawing one request's path and query."""

    def one(rng: random.Random) -> dict[str, Any]:
        return rows[rng.randrange(len(rows))]

    def search(q: str) -> str:
        return f"{LIST}?{httpx.QueryParams({'q': q})}"

    return {
        "list, first page (50)": lambda rng: f"{LIST}?limit=50",
        "list in progress (50)": lambda rng: f"{LIST}?status=in_progress&limit=50",
        "list assigned to me": lambda rng: f"{LIST}?assignee=me&limit=50",
        "search phone (spoken)": lambda rng: search(_spoken(one(rng)["phone"])),
        "search full name": lambda rng: search(one(rng)["name"]),
        "search first name": lambda rng: search(one(rng)["name"].split()[0]),
        "search email": lambda rng: search(one(rng)["email"].upper()),
        "search reference": lambda rng: search(one(rng)["reference"].lower()),
        "read by reference": lambda rng: f"{LIST}/{one(rng)['reference']}",
    }


async def measure(
    settings: Settings, token: str, rows: list[dict[str, Any]], iterations: int
) -> dict[str, dict[str, float]]:
    app = create_app(settings)
    results: dict[str, dict[str, float]] = {}
    async with app.router.lifespan_context(app):
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, draw in operations(rows).items():
                rng = random.Random(name)  # noqa: S311 - test data
                samples: list[float] = []
                for i in range(iterations + 20):
                    path = draw(rng)
                    started = time.perf_counter()
                    response = await client.get(path, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200, response.text
                    if name.startswith("search") and "first name" not in name:
                        assert response.json()["inquiries"], path  # it finds what was seeded
                    if i >= 20:
                        samples.append(elapsed)
                results[name] = percentiles(samples)
    return results


async def run(names: list[str], count: int, iterations: int, *, analyze: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        async with backend(name) as settings:
            await migrate(settings)
            staff_id, token = await staff_account(settings)
            seconds = await seed(settings, count, staff_id, analyze=analyze)
            print(f"{name}: seeded {count:,} inquiries in {seconds:.1f}s", flush=True)
            rows = _rows(count, staff_id)[inquiry_table]
            results[name] = await measure(settings, token, rows, iterations)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inquiries", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--only", default="sqlite,postgres")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE after seeding")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    results = asyncio.run(
        run(args.only.split(","), args.inquiries, args.iterations, analyze=args.analyze)
    )
    print(
        f"\n{'database':<10} {'operation':<24} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7}  target p95 <= {TARGET_P95_MS:.0f} ms"
    )
    for name, measured in results.items():
        for operation, figures in measured.items():
            verdict = "ok" if figures["p95"] <= TARGET_P95_MS else "MISSED"
            print(
                f"{name:<10} {operation:<24} {figures['p50']:7.2f} {figures['p95']:7.2f} "
                f"{figures['p99']:7.2f} {figures['max']:7.2f}  {verdict}"
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
