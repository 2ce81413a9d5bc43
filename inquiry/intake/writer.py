"""Group commit: a few writer tasks fold concurrent submissions into shared transactions.

SQLite has one writer; many pooled connections fighting for its lock is what makes a
session-per-request design slow. Here requests hand their rows to a queue, and a writer
commits whatever has gathered in one transaction and one fsync, then answers each request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.models import task_table
from inquiry.db import Transactor
from inquiry.errors import IdempotencyKeyReused, StorageUnavailable
from inquiry.intake import duplicates
from inquiry.intake.bulk_insert import insert_rows
from inquiry.intake.reference import new_reference
from inquiry.models import (
    InquiryStatus,
    contact_key_table,
    idempotency_table,
    inquiry_table,
    utcnow,
)
from inquiry.outbox import addressed, enqueue

log = logging.getLogger(__name__)

_SQLITE_KEY_TAKEN = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
_PG_UNIQUE_VIOLATION = "23505"


def _key_taken(error: BaseException) -> bool:
    """A unique key already taken (a reference, an idempotency key): worth another try.
    Other integrity errors (a missing value, a broken reference) would only fail again.

    The error is SQLAlchemy's, or the SQLite driver's own where the writer uses a raw cursor.
    """
    cause = error.orig if isinstance(error, IntegrityError) else error
    if isinstance(cause, sqlite3.IntegrityError):
        return cause.sqlite_errorname in _SQLITE_KEY_TAKEN
    return getattr(cause, "sqlstate", None) == _PG_UNIQUE_VIOLATION


@dataclass(slots=True)
class Submission:
    """Everything one accepted inquiry owes, to be committed together."""

    inquiry: dict[str, Any]  # inquiry columns, without id and reference
    outbox: list[dict[str, Any]]  # owed messages (inquiry.outbox.owed_on_intake)
    # Renders the answer for a given reference; stored for idempotent replays.
    render: Callable[[str], bytes]
    status_code: int
    idempotency_key: str | None = None
    request_hash: str | None = None
    idempotency_ttl: timedelta = timedelta(hours=24)
    callback_task: dict[str, Any] | None = None  # task columns, without inquiry_id
    contact_keys: list[str] = field(default_factory=list)  # inquiry.contacts.contact_keys
    reference: str = field(default_factory=new_reference)
    future: asyncio.Future[Outcome] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to give: a new inquiry, or the replay of the first answer for this key."""

    status_code: int
    body: bytes
    reference: str
    replayed: bool


class InquiryWriter:
    """Owns every intake write of the process."""

    def __init__(
        self,
        transact: Transactor,
        *,
        writers: int,
        batch_max: int,
        message_domain: str,
        duplicate_window: timedelta = timedelta(days=14),
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._transact = transact
        self._message_domain = message_domain
        self._duplicate_window = duplicate_window
        # Wakes the in-process outbox worker: new mail goes out at once, not on the next poll.
        self._on_commit = on_commit
        self._batch_max = batch_max
        self._queue: asyncio.Queue[Submission] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._run(), name=f"writer-{i}") for i in range(writers)]

    async def submit(self, submission: Submission) -> Outcome:
        """Store the submission and return the answer owed; raises on key reuse or failure."""
        submission.future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(submission)
        return await submission.future

    async def earlier_answer(
        self, key: str, request_hash: str, render: Callable[[str], bytes]
    ) -> Outcome | None:
        """The stored answer for this key, if any (raises if it was given to another body)."""
        answers = await self._transact(partial(_answered, keys=[key], now=utcnow()))
        if key not in answers:
            return None
        first_hash, first = answers[key]
        replay = _replay(first, first_hash, request_hash, render)
        if isinstance(replay, Exception):
            raise replay
        return replay

    async def close(self) -> None:
        """Finish what was handed over, then stop (also when cancelled while finishing)."""
        try:
            await self._queue.join()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write_batch(batch)
            except asyncio.CancelledError:
                # Stopped mid-write: the transaction's fate is unknown, so no answer at all
                # (the visitor may try again; an idempotency key replays a commit that made it).
                for submission in batch:
                    if submission.future is not None:
                        submission.future.cancel()
                raise
            except Exception:
                # Whatever went wrong, this writer goes on, and no request waits forever.
                log.exception("intake batch failed")
                _fail(batch, StorageUnavailable())
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write_batch(self, batch: list[Submission], *, first_try: bool = True) -> None:
        try:
            outcomes = await self._transact(
                partial(
                    write_batch,
                    batch=batch,
                    message_domain=self._message_domain,
                    duplicate_window=self._duplicate_window,
                )
            )
        except Exception as error:
            if len(batch) > 1 and first_try and _key_taken(error):
                # A random reference met an old one, or another replica just took an
                # idempotency key: new references all round and one more try together (a key
                # taken meanwhile is now replayed). One by one, a batch of 32 held the writer,
                # and every request behind it, for 32 commits: about 90 ms on PostgreSQL.
                log.warning("intake batch hit a unique key; trying it again with new references")
                for submission in batch:
                    submission.reference = new_reference()
                await self._write_batch(batch, first_try=False)
                return
            if len(batch) > 1:
                # A reference collision, a key another process just took, or one bad
                # submission: settle them one by one, so that none sinks the others.
                log.warning("intake batch failed (%s); writing one by one", type(error).__name__)
                for submission in batch:
                    await self._write_batch([submission])
            elif _key_taken(error):
                await self._retry_single(batch[0])
            else:
                log.exception("intake write failed")
                _fail(batch, StorageUnavailable())
            return
        # Answer first: once committed, nothing that follows may turn a 201 into a 503.
        for submission, outcome in zip(batch, outcomes, strict=True):
            _resolve(submission, outcome)
        self._on_commit()

    async def _retry_single(self, submission: Submission) -> None:
        for _ in range(3):
            submission.reference = new_reference()
            try:
                [outcome] = await self._transact(
                    partial(
                        write_batch,
                        batch=[submission],
                        message_domain=self._message_domain,
                        duplicate_window=self._duplicate_window,
                    )
                )
            except Exception as error:
                if _key_taken(error):
                    continue
                log.exception("intake write failed")
                break
            _resolve(submission, outcome)
            self._on_commit()
            return
        _fail([submission], StorageUnavailable())


def _resolve(submission: Submission, outcome: Outcome | Exception) -> None:
    assert submission.future is not None
    if submission.future.done():
        return
    if isinstance(outcome, Exception):
        submission.future.set_exception(outcome)
    else:
        submission.future.set_result(outcome)


def _fail(batch: list[Submission], error: Exception) -> None:
    for submission in batch:
        _resolve(submission, error)


def write_batch(
    connection: sa.Connection,
    batch: list[Submission],
    message_domain: str,
    duplicate_window: timedelta = timedelta(days=14),
) -> list[Outcome | Exception]:
    """Insert the batch's new inquiries with what they owe; replay keys already answered."""
    now = utcnow()
    keys = [s.idempotency_key for s in batch if s.idempotency_key]
    earlier: dict[str, tuple[str, Outcome]] = {}
    if keys:
        earlier = _answered(connection, keys, now)

    outcomes: list[Outcome | Exception] = []
    fresh: list[tuple[Submission, Outcome]] = []
    for submission in batch:
        key = submission.idempotency_key
        if key and key in earlier:
            first_hash, first = earlier[key]
            outcomes.append(_replay(first, first_hash, submission.request_hash, submission.render))
            continue
        outcome = Outcome(
            submission.status_code,
            submission.render(submission.reference),
            submission.reference,
            replayed=False,
        )
        if key and submission.request_hash:
            # A duplicate later in this same batch replays this one.
            earlier[key] = (submission.request_hash, outcome)
        outcomes.append(outcome)
        fresh.append((submission, outcome))

    if fresh:
        _insert(connection, fresh, now, message_domain, duplicate_window)
    return outcomes


def request_hash(body: str, client_ip: str) -> str:
    """What a replay must match: half a SHA-256 of the body, half of the client's address."""
    body_half = hashlib.sha256(body.encode()).hexdigest()[:32]
    return body_half + hashlib.sha256(client_ip.encode()).hexdigest()[:32]


def _replay(
    first: Outcome, first_hash: str, request_hash: str | None, render: Callable[[str], bytes]
) -> Outcome | Exception:
    """The first answer again, or a refusal when the key came with another body.

    Another client sending the same key and body (a key that can be guessed) learns the
    reference and nothing else of the first answer: its own request's answer is given,
    with the first one's reference.
    """
    if request_hash is None or first_hash[:32] != request_hash[:32]:
        return IdempotencyKeyReused()
    if first_hash[32:] != request_hash[32:]:
        return Outcome(first.status_code, render(first.reference), first.reference, replayed=True)
    return Outcome(first.status_code, first.body, first.reference, replayed=True)


def _answered(
    connection: sa.Connection, keys: list[str], now: datetime
) -> dict[str, tuple[str, Outcome]]:
    table = idempotency_table
    connection.execute(sa.delete(table).where(table.c.key.in_(keys), table.c.expires_at <= now))
    rows = connection.execute(
        sa.select(
            table.c.key,
            table.c.request_hash,
            table.c.status_code,
            table.c.response_body,
            inquiry_table.c.reference,
        )
        .join(inquiry_table, inquiry_table.c.id == table.c.inquiry_id)
        .where(table.c.key.in_(keys))
    )
    return {
        row.key: (
            row.request_hash,
            Outcome(row.status_code, row.response_body.encode(), row.reference, replayed=True),
        )
        for row in rows
    }


def _insert(
    connection: sa.Connection,
    fresh: list[tuple[Submission, Outcome]],
    now: datetime,
    message_domain: str,
    duplicate_window: timedelta,
) -> None:
    ids = _insert_inquiries(connection, [{**s.inquiry, "reference": s.reference} for s, _ in fresh])
    owed = [
        row
        for s, _ in fresh
        for row in addressed(
            s.outbox, inquiry_id=ids[s.reference], reference=s.reference, domain=message_domain
        )
    ]
    enqueue(connection, owed, insert=insert_rows)
    key_rows = [
        {"key": key, "inquiry_id": ids[s.reference]} for s, _ in fresh for key in s.contact_keys
    ]
    if key_rows:
        insert_rows(connection, contact_key_table, key_rows)
    _insert_tasks(connection, fresh, ids, now, duplicate_window)
    key_rows = [
        {
            "key": s.idempotency_key,
            "request_hash": s.request_hash,
            "inquiry_id": ids[s.reference],
            "status_code": s.status_code,
            "response_body": outcome.body.decode(),
            "created_at": now,
            "expires_at": now + s.idempotency_ttl,
        }
        for s, outcome in fresh
        if s.idempotency_key
    ]
    if key_rows:
        insert_rows(connection, idempotency_table, key_rows)


def _insert_tasks(
    connection: sa.Connection,
    fresh: list[tuple[Submission, Outcome]],
    ids: dict[str, int],
    now: datetime,
    duplicate_window: timedelta,
) -> None:
    """The tasks owed: one per person, a duplicate's merged into the open task it joins."""
    candidates = [
        duplicates.Candidate(
            ids[s.reference], s.contact_keys, s.inquiry["status"] != InquiryStatus.CLOSED
        )
        for s, _ in fresh
    ]
    links = duplicates.link(connection, candidates, now=now, window=duplicate_window)
    owed = [(ids[s.reference], s.callback_task) for s, _ in fresh if s.callback_task is not None]
    rows = [
        {**task, "inquiry_id": inquiry_id} for inquiry_id, task in owed if inquiry_id not in links
    ]
    if rows:
        insert_rows(connection, task_table, rows)
    linked = [(inquiry_id, task) for inquiry_id, task in owed if inquiry_id in links]
    without_task = duplicates.merge_tasks(
        connection, [(links[inquiry_id], task) for inquiry_id, task in linked]
    )
    own = [
        {**task, "inquiry_id": inquiry_id}
        for inquiry_id, task in linked
        if links[inquiry_id] in without_task
    ]
    if own:
        insert_rows(connection, task_table, own)


def _insert_inquiries(connection: sa.Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert the inquiries and return their ids by reference."""
    references = [row["reference"] for row in rows]
    if connection.dialect.name == "sqlite":
        last = insert_rows(connection, inquiry_table, rows)
        # Under our write lock, one statement's rows take consecutive rowids.
        first = last - len(rows) + 1
        return dict(zip(references, range(first, last + 1), strict=True))
    returned = insert_rows(connection, inquiry_table, rows, returning="reference, id")
    return dict(returned)


async def purge_expired_keys(engine: AsyncEngine, now: datetime) -> int:
    """Forget idempotency answers past their lifetime (they hold visitors' names)."""
    table = idempotency_table
    async with engine.begin() as connection:
        result = await connection.execute(sa.delete(table).where(table.c.expires_at <= now))
    return int(result.rowcount or 0)
