"""Retention on both databases: spam deleted and closed inquiries redacted once their period is
over (not a minute before), old mail files and expired tokens removed; a dry run changes
nothing; every run logged with counts only, and audited."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.audit import Caller
from inquiry.config import Settings
from inquiry.models import as_utc, audit_table, inquiry_table, token_table, utcnow
from inquiry.notify.worker import OutboxWorker
from inquiry.privacy import purge as purging
from inquiry.privacy.purge import purge
from tests.privacy.fixtures import drain, everything, inquiry_id, mail_folder, submit
from tests.staff.fixtures import START, StaffUser, on_inquiry

MINUTE = timedelta(minutes=1)


def at(now: datetime) -> Caller:
    return Caller(staff=None, client_ip="cli", now=now)


async def created_at(engine: AsyncEngine, reference: str) -> datetime:
    async with engine.connect() as connection:
        found = await connection.scalar(
            sa.select(inquiry_table.c.created_at).where(inquiry_table.c.reference == reference)
        )
    assert found is not None
    return as_utc(found)


async def inquiry_row(engine: AsyncEngine, reference: str) -> dict[str, object] | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(inquiry_table).where(inquiry_table.c.reference == reference)
            )
        ).first()
    return None if row is None else dict(row._mapping)


async def spam(client: httpx.AsyncClient) -> str:
    body = await submit(client, name="Spam Bot", email="bot@example.ca", website="http://x.example")
    reference: str = body["reference"]
    return reference


async def closed(client: httpx.AsyncClient, engine: AsyncEngine, user: StaffUser) -> str:
    """An inquiry staff closed as resolved at START (the staff API's clock)."""
    reference: str = (await submit(client, name="Anne Closed", email="anne@example.ca"))[
        "reference"
    ]
    key = await inquiry_id(engine, reference)
    move = {"status": "closed", "reason": "resolved", "note": "spoke with Anne about dosing"}
    assert (await on_inquiry(client, user, key, "status", move)).status_code == 200
    return reference


class TestSpam:
    async def test_quarantined_spam_is_deleted_after_its_period_not_before(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
    ) -> None:
        reference = await spam(client)
        kept = await submit(client)  # an ordinary inquiry, new
        stored = await created_at(engine, reference)
        key = await inquiry_id(engine, reference)
        held = await everything(engine)
        assert [row for row in held["inquiry_contact_key"] if row["inquiry_id"] == key]
        period = timedelta(days=settings.spam_retention_days)

        early = await purge(engine, settings, at(stored + period - MINUTE))
        assert early.spam_deleted == 0
        assert await inquiry_row(engine, reference) is not None

        late = await purge(engine, settings, at(stored + period + MINUTE))
        assert late.spam_deleted == 1
        assert await inquiry_row(engine, reference) is None
        held = await everything(engine)
        for table in ("outbox_message", "inquiry_contact_key", "idempotency_record"):
            assert [row for row in held[table] if row["inquiry_id"] == key] == [], table
        assert await inquiry_row(engine, kept["reference"]) is not None
        assert "bot@example.ca" not in repr(held)

    async def test_the_period_is_the_setting(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
    ) -> None:
        reference = await spam(client)
        stored = await created_at(engine, reference)
        shorter = settings.model_copy(update={"spam_retention_days": 2})
        assert (
            await purge(engine, shorter, at(stored + timedelta(days=2) + MINUTE))
        ).spam_deleted == 1


class TestClosedInquiries:
    async def test_redacted_after_the_period_from_closing_keeping_reference_topic_dates(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, agent: StaffUser
    ) -> None:
        reference = await closed(client, engine, agent)
        open_one = (await submit(client, name="Olive Open", email="olive@example.ca"))["reference"]
        period = timedelta(days=settings.retention_days)

        early = await purge(engine, settings, at(START + period - MINUTE))
        assert early.inquiries_redacted == 0
        row = await inquiry_row(engine, reference)
        assert row is not None
        assert row["name"] == "Anne Closed"

        late = await purge(engine, settings, at(START + period + MINUTE))
        assert late.inquiries_redacted == 1
        row = await inquiry_row(engine, reference)
        assert row is not None
        assert (row["name"], row["email"], row["phone"], row["message"]) == ("", None, None, "")
        assert row["reference"] == reference
        assert row["topic"] == "new_patient"
        assert row["created_at"] is not None
        assert row["redacted_at"] is not None
        held = await everything(engine)
        assert "Anne" not in repr(held["inquiry"]) + repr(held["inquiry_status_change"])
        assert "anne@example.ca" not in repr(held)
        assert [c["to_status"] for c in held["inquiry_status_change"]] == ["closed"]
        # An inquiry still open keeps everything, however old.
        assert (await purge(engine, settings, at(START + 10 * period))).inquiries_redacted == 0
        olive = await inquiry_row(engine, open_one)
        assert olive is not None
        assert olive["name"] == "Olive Open"

    async def test_a_redacted_inquiry_is_not_counted_again(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, agent: StaffUser
    ) -> None:
        await closed(client, engine, agent)
        later = START + timedelta(days=settings.retention_days + 1)
        assert (await purge(engine, settings, at(later))).inquiries_redacted == 1
        assert (await purge(engine, settings, at(later))).inquiries_redacted == 0


class TestMailFilesAndTokens:
    async def test_mail_files_are_deleted_after_their_period(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
    ) -> None:
        await submit(client)
        await drain(engine, settings)
        older, newer = sorted(mail_folder(settings))[:2]
        now = utcnow()
        period = timedelta(days=settings.mail_file_retention_days)
        for name, age in ((older, period + MINUTE), (newer, period - MINUTE)):
            stamp = (now - age).timestamp()
            os.utime(settings.mail_dir / name, (stamp, stamp))

        counts = await purge(engine, settings, at(now))

        assert counts.mail_files_deleted == 1
        assert set(mail_folder(settings)) == {newer}

    async def test_expired_tokens_are_deleted_and_live_ones_stay(
        self, engine: AsyncEngine, settings: Settings, admin: StaffUser, agent: StaffUser
    ) -> None:
        async with engine.begin() as connection:
            await connection.execute(
                sa.update(token_table)
                .where(token_table.c.staff_id == admin.id)
                .values(expires_at=START - MINUTE)
            )
        counts = await purge(engine, settings, at(START))
        assert counts.tokens_deleted == 1
        async with engine.connect() as connection:
            left = list(await connection.scalars(sa.select(token_table.c.staff_id)))
        assert left == [agent.id]


class TestRuns:
    async def test_a_dry_run_changes_nothing_and_counts_what_a_run_removes(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        agent: StaffUser,
    ) -> None:
        await spam(client)
        await closed(client, engine, agent)
        await drain(engine, settings)
        later = utcnow() + timedelta(days=settings.retention_days + 1)
        before, files = await everything(engine), mail_folder(settings)

        dry = await purge(engine, settings, at(later), dry_run=True)

        assert dry.spam_deleted == dry.inquiries_redacted == 1
        assert dry.mail_files_deleted == len(files) > 0
        assert await everything(engine) == before
        assert mail_folder(settings) == files
        assert await purge(engine, settings, at(later)) == dry

    async def test_each_run_is_audited_and_logged_with_counts_only(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        reference = await spam(client)
        later = await created_at(engine, reference) + timedelta(days=31)
        with caplog.at_level(logging.INFO, logger="inquiry.privacy"):
            await purge(engine, settings, at(later))
            await purge(engine, settings, at(later), dry_run=True)
        messages = [record.getMessage() for record in caplog.records]
        assert any("spam deleted 1" in message for message in messages)
        assert not any("bot@example.ca" in m or "Spam Bot" in m for m in messages)
        async with engine.connect() as connection:
            audited = list(
                await connection.execute(
                    sa.select(audit_table.c.action, audit_table.c.detail, audit_table.c.staff_id)
                )
            )
        assert [(a, s) for a, _, s in audited] == [("privacy.purge", None)]  # the dry run is not
        assert '"spam_deleted": 1' in audited[0][1]

    async def test_the_workers_housekeeping_purges(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
    ) -> None:
        reference = await spam(client)
        later = await created_at(engine, reference) + timedelta(days=31)
        worker = OutboxWorker(engine, settings, clock=lambda: later)
        worker.start()  # housekeeping runs first
        try:
            for _ in range(200):
                if await inquiry_row(engine, reference) is None:
                    break
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()
        assert await inquiry_row(engine, reference) is None

    async def test_a_backlog_goes_in_batches_under_one_audit_entry(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(purging, "BATCH", 2)
        references = [await spam(client) for _ in range(5)]
        later = await created_at(engine, references[-1]) + timedelta(days=31)

        assert (await purge(engine, settings, at(later), dry_run=True)).spam_deleted == 5
        assert (await purge(engine, settings, at(later))).spam_deleted == 5

        assert [await inquiry_row(engine, r) for r in references] == [None] * 5
        async with engine.connect() as connection:
            audited = list(await connection.scalars(sa.select(audit_table.c.detail)))
        assert len(audited) == 1
        assert '"spam_deleted": 5' in audited[0]
