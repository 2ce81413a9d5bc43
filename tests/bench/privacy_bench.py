"""Benchmark of the retention purge on a year's backlog (not a timed test).

Seeds a SQLite file with closed inquiries past their retention period (each with its contact
keys and two sent outbox rows), then runs `purge` and prints the run's time and the longest
single transaction: on SQLite every other write (intake's) waits for the transaction in hand.

    .venv/bin/python tests/bench/privacy_bench.py [--inquiries 20000]

Exits non-zero only if something crashes, never because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inquiry.audit import Caller  # noqa: E402
from inquiry.config import Settings  # noqa: E402
from inquiry.contacts import contact_keys  # noqa: E402
from inquiry.db import create_engine, migrate  # noqa: E402
from inquiry.models import contact_key_table, inquiry_table, outbox_table  # noqa: E402
from inquiry.privacy import personal  # noqa: E402
from inquiry.privacy.purge import purge  # noqa: E402

CLOSED_AT = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)


def _inquiry(number: int) -> dict[str, Any]:
    return {
        "reference": f"INQ-B{number:05d}",
        "created_at": CLOSED_AT,
        "status": "closed",
        "close_reason": "resolved",
        "name": f"Visitor Number{number}",
        "email": f"visitor{number}@example.ca",
        "phone": "+14165550199",
        "preferred_contact": "email",
        "callback_window": "any",
        "voicemail_ok": False,
        "subject": "A question",
        "message": "A message of a few sentences about treatment. " * 5,
        "language": "en",
        "consent": True,
        "source": "api",
        "topic": "new_patient",
        "priority": "normal",
        "crisis": False,
        "triage_reasons": "[]",
    }


async def _seed(settings: Settings, count: int) -> None:
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(sa.insert(inquiry_table), [_inquiry(n) for n in range(count)])
        ids = dict(
            (
                await connection.execute(sa.select(inquiry_table.c.reference, inquiry_table.c.id))
            ).all()
        )
        keys = [
            {"key": key, "inquiry_id": ids[row["reference"]]}
            for row in (_inquiry(n) for n in range(count))
            for key in contact_keys(name=row["name"], email=row["email"], phone=row["phone"])
        ]
        await connection.execute(sa.insert(contact_key_table), keys)
        mail = [
            {
                "inquiry_id": inquiry_id,
                "kind": kind,
                "recipient": recipient,
                "message_id": f"<{reference}.{kind}@clinic.ca>",
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": CLOSED_AT,
                "created_at": CLOSED_AT,
                "sent_at": CLOSED_AT,
            }
            for reference, inquiry_id in ids.items()
            for kind, recipient in (
                ("admin_notification", "admin@clinic.ca"),
                ("visitor_acknowledgement", "visitor@example.ca"),
            )
        ]
        await connection.execute(sa.insert(outbox_table), mail)
    await engine.dispose()


class _Timed:
    """The longest single call of personal.remove: one transaction's work."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.calls = 0
        self._remove = personal.remove

    async def __call__(self, session: AsyncSession, ids: Any, *, at: datetime) -> None:
        started = time.perf_counter()
        await self._remove(session, ids, at=at)
        self.longest = max(self.longest, time.perf_counter() - started)
        self.calls += 1


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite+aiosqlite:///{folder}/bench.db",
            mail_dir=Path(folder) / "mail",
        )
        await migrate(settings)
        await _seed(settings, count)
        timed = _Timed()
        personal.remove = timed  # type: ignore[assignment]
        engine = create_engine(settings)
        caller = Caller(staff=None, client_ip="bench", now=CLOSED_AT + timedelta(days=400))
        started = time.perf_counter()
        counts = await purge(engine, settings, caller)
        elapsed = time.perf_counter() - started
        await engine.dispose()
        print(  # noqa: T201 - a benchmark prints its figures
            json.dumps(
                {
                    "database": "sqlite",
                    "inquiries_redacted": counts.inquiries_redacted,
                    "run_seconds": round(elapsed, 2),
                    "transactions": timed.calls,
                    "longest_redaction_ms": round(timed.longest * 1000, 1),
                }
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inquiries", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().inquiries))
