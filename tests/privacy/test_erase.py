"""Erasure on request: the person's details leave every table and the mail folder, their
call and unsent mail are cancelled, and a tombstone and the audit trail stay (both databases)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from inquiry.audit import Caller
from inquiry.callbacks.models import task_table
from inquiry.config import Settings
from inquiry.models import OutboxStatus, inquiry_table, outbox_table, utcnow
from inquiry.outbox.erasure import CANCELLED
from inquiry.privacy import erase
from inquiry.privacy.selector import Selector, SelectorKind
from tests.privacy.fixtures import (
    SECRETS,
    Visitor,
    drain,
    everything,
    found_in,
    mail_folder,
    submit,
)
from tests.staff.fixtures import StaffUser, on_inquiry

CLI = Caller(staff=None, client_ip="cli", now=utcnow())


async def planned(
    engine: AsyncEngine, settings: Settings, kind: SelectorKind, written: str
) -> erase.ErasurePlan:
    async with async_sessionmaker(engine)() as session, session.begin():
        return await erase.plan(session, settings, Selector.parse(kind, written))


async def erased(
    engine: AsyncEngine, settings: Settings, plan: erase.ErasurePlan
) -> erase.ErasureResult:
    caller = Caller(staff=None, client_ip="cli", now=utcnow())
    return await erase.erase(
        engine, settings, caller, plan, erased_by="cli:frontdesk", reason="asked by phone"
    )


class TestErase:
    async def test_the_person_is_gone_from_every_table_and_the_mail_folder(
        self, engine: AsyncEngine, settings: Settings, visitor: Visitor
    ) -> None:
        before = await everything(engine)
        assert all(found_in(before, secret) for secret in SECRETS)  # the fixture holds them all
        files_before = mail_folder(settings)
        assert any("Tremblay" in text for text in files_before.values())

        plan = await planned(engine, settings, SelectorKind.EMAIL, "HELENE.tremblay@example.ca")
        done = await erased(engine, settings, plan)

        assert sorted(done.references) == sorted(visitor.references)
        after = await everything(engine)
        for secret in SECRETS:
            assert found_in(after, secret) == [], secret
        files_after = mail_folder(settings)
        assert not any("Tremblay" in text for text in files_after.values())
        assert done.mail_files_deleted == len(files_before) - len(files_after) > 0
        # Someone else's inquiry and mail are untouched.
        assert any("Paul Martin" in text for text in files_after.values())
        assert found_in(after, "paul@example.ca")

    async def test_references_dates_and_the_audit_trail_stay_with_a_tombstone(
        self, engine: AsyncEngine, settings: Settings, visitor: Visitor
    ) -> None:
        audit_before = (await everything(engine))["audit_entry"]

        await erased(
            engine, settings, await planned(engine, settings, SelectorKind.PHONE, "416 555 0123")
        )

        held = await everything(engine)
        kept = {row["id"]: row for row in held["inquiry"]}
        for inquiry_id, reference in zip(visitor.ids, visitor.references, strict=True):
            row = kept[inquiry_id]
            assert row["reference"] == reference
            assert row["created_at"] is not None
            assert row["redacted_at"] is not None
            assert (row["status"], row["close_reason"]) == ("closed", "withdrawn")
        tombstones = {row["inquiry_id"]: row for row in held["inquiry_erasure"]}
        assert set(tombstones) == set(visitor.ids)
        assert {(t["erased_by"], t["reason"]) for t in tombstones.values()} == {
            ("cli:frontdesk", "asked by phone")
        }
        # Every earlier audit entry is still there, and the erasure is one more per inquiry.
        audit_after = held["audit_entry"]
        assert audit_after[: len(audit_before)] == audit_before
        erasures = [row for row in audit_after if row["action"] == "privacy.erase"]
        assert sorted(int(row["target_id"]) for row in erasures) == sorted(visitor.ids)
        # The status history and call attempts stay as history, without their words.
        assert held["inquiry_status_change"]
        assert held["callback_attempt"]

    async def test_the_unsent_mail_is_cancelled_and_never_sent(
        self, engine: AsyncEngine, settings: Settings, visitor: Visitor
    ) -> None:
        plan = await planned(
            engine, settings, SelectorKind.REFERENCE, visitor.references[1].lower()
        )
        assert plan.unsent_mail > 0
        # The second inquiry is linked to the first (the same person): the call it is owed is
        # the first's task, which stays open for the inquiry that is not erased.
        assert plan.open_tasks == 0
        assert [p.reference for p in plan.inquiries] == [visitor.references[1]]

        done = await erased(engine, settings, plan)

        assert done.mail_cancelled == plan.unsent_mail
        assert await drain(engine, settings) == 0
        async with engine.connect() as connection:
            unsent = await connection.execute(
                sa.select(
                    outbox_table.c.status, outbox_table.c.recipient, outbox_table.c.last_error
                ).where(outbox_table.c.inquiry_id == visitor.ids[1])
            )
            assert {tuple(row) for row in unsent} == {(OutboxStatus.SKIPPED.value, "", CANCELLED)}
            task_status = await connection.scalar(
                sa.select(task_table.c.status).where(task_table.c.id == visitor.task_id)
            )
            first = await connection.scalar(
                sa.select(inquiry_table.c.name).where(inquiry_table.c.id == visitor.ids[0])
            )
        assert task_status == "open"  # tried once (voicemail), due again: not cancelled
        assert first == "Hélène Tremblay"  # only the inquiry named was erased

    async def test_erasing_the_first_of_two_linked_leaves_the_second_its_own_call(
        self, engine: AsyncEngine, settings: Settings, visitor: Visitor
    ) -> None:
        # The first inquiry holds the task the second was linked to: erasing the first alone
        # must not take the second's call away with it.
        plan = await planned(
            engine, settings, SelectorKind.REFERENCE, visitor.references[0].lower()
        )
        await erased(engine, settings, plan)
        async with engine.connect() as connection:
            shared = await connection.scalar(
                sa.select(task_table.c.status).where(task_table.c.id == visitor.task_id)
            )
            second = (
                await connection.execute(
                    sa.select(inquiry_table.c.duplicate_of, inquiry_table.c.status).where(
                        inquiry_table.c.id == visitor.ids[1]
                    )
                )
            ).one()
            own = await connection.scalars(
                sa.select(task_table.c.status).where(task_table.c.inquiry_id == visitor.ids[1])
            )
            own_statuses = list(own)
        assert shared == "cancelled"
        assert tuple(second) == (None, "in_progress")  # as it was; linked no more
        assert own_statuses == ["open"]

    async def test_the_open_call_is_cancelled(
        self, engine: AsyncEngine, settings: Settings, visitor: Visitor
    ) -> None:
        plan = await planned(engine, settings, SelectorKind.EMAIL, "helene.tremblay@example.ca")
        assert plan.open_tasks == 1
        await erased(engine, settings, plan)
        async with engine.connect() as connection:
            task_status = await connection.scalar(
                sa.select(task_table.c.status).where(task_table.c.id == visitor.task_id)
            )
        assert task_status == "cancelled"

    async def test_an_inquiry_stored_after_the_plan_is_not_erased_unseen(
        self,
        engine: AsyncEngine,
        settings: Settings,
        visitor: Visitor,
        client: httpx.AsyncClient,
    ) -> None:
        plan = await planned(engine, settings, SelectorKind.EMAIL, "helene.tremblay@example.ca")
        later = await submit(client, name="Hélène Tremblay", email="helene.tremblay@example.ca")

        done = await erased(engine, settings, plan)

        assert later["reference"] not in done.references
        again = await planned(engine, settings, SelectorKind.EMAIL, "helene.tremblay@example.ca")
        assert [p.reference for p in again.inquiries] == [later["reference"]]

    async def test_a_reason_is_required_and_nothing_changes_without_one(
        self, engine: AsyncEngine, settings: Settings, visitor: Visitor
    ) -> None:
        plan = await planned(engine, settings, SelectorKind.REFERENCE, visitor.references[0])
        before = await everything(engine)
        for reason in ("", "   ", "two\nlines", "x" * 501):
            try:
                await erase.erase(engine, settings, CLI, plan, erased_by="cli:x", reason=reason)
            except erase.InvalidErasure:
                pass
            else:
                raise AssertionError(f"{reason!r} was accepted")
        assert await everything(engine) == before

    async def test_an_erased_inquiry_stays_closed_readable_by_reference_and_unfindable_by_name(
        self,
        engine: AsyncEngine,
        settings: Settings,
        visitor: Visitor,
        client: httpx.AsyncClient,
        agent: StaffUser,
    ) -> None:
        plan = await planned(engine, settings, SelectorKind.REFERENCE, visitor.references[0])
        await erased(engine, settings, plan)

        reopened = await on_inquiry(
            client, agent, visitor.ids[0], "status", {"status": "in_progress"}
        )

        assert reopened.status_code == 409
        assert reopened.json()["error"]["code"] == "transition_not_allowed"
        # Nothing new is attached to it either: it would outlive the erasure.
        before = await everything(engine)
        for action, body in (
            ("notes", {"text": "Called back, she is doing better."}),
            ("assign", {"staff_id": agent.id}),
            ("triage", {"topic": "clinical", "reason": "a side effect question"}),
        ):
            refused = await on_inquiry(client, agent, visitor.ids[0], action, body)
            assert refused.status_code == 409, (action, refused.text)
        assert await everything(engine) == before
        shown = await client.get(f"/api/v1/staff/inquiries/{visitor.ids[0]}", headers=agent.headers)
        assert shown.status_code == 200
        assert (shown.json()["name"], shown.json()["message"]) == ("", "")
        assert shown.json()["reference"] == visitor.references[0]
        found = await client.get(
            "/api/v1/staff/inquiries", params={"q": "Tremblay"}, headers=agent.headers
        )
        assert [i["reference"] for i in found.json()["inquiries"]] == [visitor.references[1]]
