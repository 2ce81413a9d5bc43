"""The outbox worker: claims due messages, renders and sends them, and records what happened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry import outbox
from inquiry.audit import Caller
from inquiry.config import Settings
from inquiry.db import refresh_sqlite_statistics
from inquiry.intake.writer import purge_expired_keys
from inquiry.metrics import Metrics
from inquiry.models import OutboxKind, OutboxStatus, as_utc, utcnow
from inquiry.notify.lease import Heartbeat, Lease
from inquiry.notify.render import MessageRenderer, OutgoingEmail, RenderError
from inquiry.notify.transports import DeliveryError, Mailer, WebhookSender, mailer_for
from inquiry.outbox import ClaimedMessage, Result
from inquiry.privacy.purge import purge

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0
GATHER_SECONDS = 0.05
DRAIN_SECONDS = 60.0
# A failed write of results is tried again on a fresh connection, after 0.1 s, 0.2 s, … 2 s,
# for as long as the batch's lease holds (and never longer than one lease).
RECORD_RETRY_FIRST_SECONDS = 0.1
RECORD_RETRY_MAX_SECONDS = 2.0
RENDER_AHEAD = 4
HOUSEKEEPING_EVERY = timedelta(minutes=10)
# Retention periods are counted in days: once an hour is on time, and spares the database.
PURGE_EVERY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class WebhookCall:
    url: str
    body: bytes


Prepared = OutgoingEmail | WebhookCall | RenderError


@dataclass(frozen=True, slots=True)
class Batch:
    """Claimed messages, the inquiries they are about, and the lease they are held under."""

    messages: list[ClaimedMessage]
    inquiries: dict[int, dict[str, Any]]
    lease: Lease


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of a batch: results, messages not attempted, and whether a send was cut
    short (the lease was ending), which leaves the connection in an unknown state."""

    results: list[Result]
    unattempted: list[ClaimedMessage]
    cut_short: bool


RecordResults = Callable[[Batch, list[Result], list[ClaimedMessage]], Coroutine[Any, Any, None]]


class _Recorder:
    """Writes a drain's results while sending goes on: the next messages need not wait for
    the database, which takes 4–5 ms a transaction on PostgreSQL, 3.5% of a batch's time.

    A batch's results are written in halves, one transaction at a time: one half is being
    written while the next is sent. No more than a batch's worth of messages is ever sent and
    not yet recorded, so a worker that dies re-sends at most that many, as when every batch
    was written before the next was sent. A write that fails is raised at the next one.
    """

    def __init__(self, record: RecordResults, mailer: Mailer, batch_size: int) -> None:
        self._record = record
        self._mailer = mailer
        self.half = max(1, batch_size // 2)
        # A batch of one has no half to send while the other is written.
        self._overlap = batch_size > 1
        self._writing: asyncio.Task[None] | None = None

    async def write(
        self, batch: Batch, results: list[Result], unattempted: list[ClaimedMessage]
    ) -> None:
        """Start writing these results (all under `batch`'s lease) once the last write is in."""
        await self.settle()
        # Only what the transport has made final may be recorded as sent.
        await self._mailer.flush()
        self._writing = asyncio.create_task(
            self._record(batch, results, unattempted), name="outbox-record"
        )
        if not self._overlap:
            await self.settle()

    async def settle(self) -> None:
        """Wait for the write in progress; raise what it raised.

        Waited on, not awaited: a drain cancelled meanwhile leaves the write running, and
        `abandon` waits for it.
        """
        writing = self._writing
        if writing is None:
            return
        await asyncio.wait((writing,))
        self._writing = None
        if writing.cancelled():  # only as the event loop shuts down
            log.warning("a write of results was cancelled; their leases will bring them back")
        else:
            writing.result()

    async def written(self) -> None:
        """Wait for the write in progress without raising its error (`settle` raises it)."""
        if self._writing is not None:
            await asyncio.wait((self._writing,))

    async def abandon(self) -> None:
        """A drain is failing: let the write in progress finish, and log, not raise, its own
        failure (the drain's error is the one to raise; unwritten rows return with their lease).
        """
        try:
            await self.settle()
        except Exception:  # noqa: BLE001 - the error that brought us here is the one to raise
            log.exception("could not record a failing drain's last results; their lease will")


def retry_delay(attempts: int, rng: random.Random) -> timedelta:
    """Exponential backoff with jitter: 15–30 s after the first failure, at most an hour."""
    ceiling = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1))
    return timedelta(seconds=ceiling / 2 + rng.random() * ceiling / 2)


class OutboxWorker:
    """Delivers the outbox. Runs inside `inquiry serve` or alone as `inquiry worker`."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        mailer_factory: Callable[[], Mailer] | None = None,
        webhook: WebhookSender | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._settings = settings
        self._clock = clock
        self._mailer_factory = mailer_factory or (lambda: mailer_for(settings))
        self._webhook = webhook
        self._renderer = MessageRenderer(settings)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._heartbeat = Heartbeat(
            engine,
            every_seconds=settings.outbox_heartbeat_seconds,
            lease_seconds=settings.outbox_lease_seconds,
            clock=clock,
        )
        self._lifetime = timedelta(hours=settings.outbox_max_lifetime_hours)
        self._wake = asyncio.Event()
        self._commits = 0  # notify() calls: rows committed since a batch was claimed ahead?
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._next_purge: datetime | None = None

    def notify(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._commits += 1
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-worker")

    async def stop(self) -> None:
        """Finish the message in hand, hand back the rest of the batch, and stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._webhook is not None:
            await self._webhook.aclose()

    async def run(self) -> None:
        next_chores = self._clock()
        while not self._stopping:
            if self._clock() >= next_chores:
                next_chores = self._clock() + HOUSEKEEPING_EVERY
                await self._housekeeping()
            try:
                handled = await self.drain()
            except Exception:
                log.exception("outbox batch failed; trying again shortly")
                handled = 0
            if handled == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.outbox_poll_seconds)
                self._wake.clear()
                # Let a burst of submissions gather: one claim for many, not one per commit.
                await asyncio.sleep(GATHER_SECONDS)

    async def _housekeeping(self) -> None:
        """Chores that ride along with the worker, each on its own: expired idempotency
        answers, retention (once an hour), and SQLite's table statistics (the claim's plan
        depends on them)."""
        try:
            purged = await purge_expired_keys(self._engine, self._clock())
        except Exception:  # noqa: BLE001 - housekeeping must not stop delivery
            log.exception("purging expired idempotency keys failed")
        else:
            if purged:
                log.info("purged %d expired idempotency answers", purged)
        now = self._clock()
        if self._next_purge is None or now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            try:
                await purge(self._engine, self._settings, Caller(None, "worker", now))
            except Exception:  # noqa: BLE001 - housekeeping must not stop delivery
                log.exception("the privacy purge failed; it runs again within the hour")
        try:
            await refresh_sqlite_statistics(self._engine)
        except Exception:  # noqa: BLE001 - housekeeping must not stop delivery
            log.exception("refreshing SQLite's statistics failed")

    async def drain(self) -> int:
        """Deliver due messages until none are left, or for about DRAIN_SECONDS; returns how
        many were taken in hand (sent, failed, or handed back on a stop or a lapsed lease).

        Consecutive batches share one mail connection, the next batch is claimed while the
        current one is sent, and results are written while the next messages are sent (see
        _Recorder: a worker that dies re-sends at most a batch's worth). The time limit lets
        the housekeeping run and opens a fresh connection now and then under a steady inflow.
        """
        async with self._heartbeat.beating():
            batch = await self._claim()
            if not batch.messages:
                return 0
            async with self._mailer_factory() as mailer:
                recorder = _Recorder(self._record, mailer, self._settings.outbox_batch_size)
                try:
                    total = await self._send_batches(batch, mailer, recorder)
                except BaseException:
                    await recorder.abandon()
                    raise
                await recorder.settle()
        return total

    async def _send_batches(self, batch: Batch, mailer: Mailer, recorder: _Recorder) -> int:
        total = 0
        until = time.monotonic() + DRAIN_SECONDS
        while batch.messages:
            if self._stopping:
                await recorder.write(batch, [], batch.messages)
                break
            total += len(batch.messages)
            following = None
            commits = self._commits
            if time.monotonic() < until:
                following = asyncio.create_task(self._claim(recorder), name="outbox-claim")
            try:
                sent = await self._send(batch, mailer, recorder)
                await recorder.write(batch, sent.results, sent.unattempted)
            except BaseException:
                await self._hand_back(following)
                raise
            if sent.cut_short:
                # The connection stopped mid-message: leaving the block closes it.
                await self._hand_back(following)
                break
            if following is None:
                break
            batch = await following
            if self._commits != commits:
                batch = await self._urgent_first(batch, recorder)
            mailer.next_batch()
        return total

    async def _claim(self, recorder: _Recorder | None = None) -> Batch:
        """One transaction claims the batch and reads the inquiries it needs.

        Within a drain it waits for the results being written, and it leaves alone the rows of
        batches in hand whose results are not all written: a row whose lease lapsed while it
        was being sent must not be claimed again before its result is in.
        """
        now = self._clock()
        if recorder is not None:
            await recorder.written()
        token = outbox.new_token()
        async with outbox.transaction(self._engine) as connection:
            claimed = await outbox.claim_due(
                connection,
                now=now,
                token=token,
                lease_seconds=self._settings.outbox_lease_seconds,
                limit=self._settings.outbox_batch_size,
                own_tokens=self._heartbeat.tokens(),
            )
            inquiries = await outbox.inquiries_for(connection, claimed)
        lease = self._heartbeat.lease(token, (message.id for message in claimed), now)
        return Batch(claimed, inquiries, lease)

    async def _hand_back(self, claiming: asyncio.Task[Batch] | None) -> None:
        """A batch claimed ahead is not needed after all: return its rows, due at once.

        If that fails too, the rows come back when their lease lapses.
        """
        if claiming is None:
            return
        try:
            await self._give_back(await claiming)
        except Exception:  # noqa: BLE001 - the error that brought us here is the one to raise
            log.exception("could not hand back a batch claimed ahead; its lease will")

    async def _give_back(self, batch: Batch) -> None:
        """Return a batch's rows unattempted, due at once (only those its lease still holds)."""
        self._heartbeat.drop(batch.lease)
        async with outbox.transaction(self._engine) as connection:
            await outbox.release(connection, batch.messages, token=batch.lease.token)

    async def _urgent_first(self, batch: Batch, recorder: _Recorder) -> Batch:
        """Rows were committed after `batch` was claimed ahead. If urgent ones (a crisis)
        are waiting and the batch holds none, it is handed back and the crisis claimed first:
        otherwise the crisis would wait behind two batches, the one just sent and this one.
        """
        if any(message.urgent for message in batch.messages):
            return batch
        async with self._engine.connect() as connection:
            waiting = await outbox.urgent_waiting(connection, now=self._clock())
        if not waiting:
            return batch
        await self._give_back(batch)
        return await self._claim(recorder)

    async def _record(
        self, batch: Batch, results: list[Result], unattempted: list[ClaimedMessage]
    ) -> None:
        """Write results under the batch's lease. A write that fails (a connection cut, the
        database restarting) is tried again on a fresh connection while the lease holds: the
        messages were sent, and unwritten they would go out again once it lapses."""
        lease = batch.lease
        delay = RECORD_RETRY_FIRST_SECONDS
        give_up_at = time.monotonic() + self._settings.outbox_lease_seconds
        while True:
            now = self._clock()
            try:
                async with outbox.transaction(self._engine) as connection:
                    await outbox.record(connection, results, now=now, token=lease.token)
                    await outbox.release(connection, unattempted, token=lease.token)
                break
            except Exception as error:
                if now + timedelta(seconds=delay) >= lease.deadline or (
                    time.monotonic() + delay >= give_up_at
                ):
                    raise
                # Only rows still carrying the lease's token are written: trying again after
                # a commit whose answer was lost writes nothing twice.
                log.warning(
                    "writing %d results failed (%s); trying again on a fresh connection",
                    len(results) + len(unattempted),
                    type(error).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_SECONDS)
        written = [result.message.id for result in results]
        self._heartbeat.written(lease, [*written, *(message.id for message in unattempted)])
        if self._metrics is not None:
            self._count(self._metrics, results, now)

    @staticmethod
    def _count(metrics: Metrics, results: list[Result], now: datetime) -> None:
        """Count results once written: a batch whose write failed comes back and is counted
        when it is sent again."""
        for result in results:
            message = result.message
            waited = None
            if message.attempts == 0:
                waited = (now - as_utc(message.created_at)).total_seconds()
            if result.status is OutboxStatus.SENT:
                metrics.delivered(message.kind, first_attempt_seconds=waited)
            else:
                dead = result.status is OutboxStatus.DEAD
                metrics.delivery_failed(message.kind, dead=dead, first_attempt_seconds=waited)

    async def _send(self, batch: Batch, mailer: Mailer, recorder: _Recorder) -> Sent:
        """Send the batch, its first half's results written while the rest is sent; stop at
        SIGTERM, and stop any send still running as the lease nears its end: past it, another
        worker may take the rows and send them again. Returns what is left to write."""
        cut_short = False
        results: list[Result] = []
        unattempted: list[ClaimedMessage] = []
        ready: asyncio.Queue[tuple[ClaimedMessage, Prepared]] = asyncio.Queue(RENDER_AHEAD)
        # Render the next messages while the server is busy with the current one.
        renderer = asyncio.create_task(self._prepare_all(batch.messages, batch.inquiries, ready))
        # Never send on a lease that may have passed to another worker.
        lease, margin = batch.lease, self._heartbeat.margin
        try:
            for _ in batch.messages:
                message, prepared = await ready.get()
                if len(results) == recorder.half:
                    await recorder.write(batch, results, [])
                    results = []
                left = lease.send_left(self._clock(), margin)
                if self._stopping or cut_short or left <= 0:
                    unattempted.append(message)
                    continue
                try:
                    # The heartbeat moves this limit on as it renews the lease.
                    async with asyncio.timeout(left) as lease.send_scope:
                        results.append(await self._deliver(message, prepared, mailer))
                except TimeoutError:  # _deliver turns every other failure into a Result
                    cut_short = True
                    results.append(self._retry(message, "stopped: its lease was ending"))
                finally:
                    lease.send_scope = None
        finally:
            renderer.cancel()
        return Sent(results, unattempted, cut_short)

    async def _prepare_all(
        self,
        claimed: list[ClaimedMessage],
        inquiries: dict[int, dict[str, Any]],
        ready: asyncio.Queue[tuple[ClaimedMessage, Prepared]],
    ) -> None:
        for message in claimed:
            await ready.put((message, self._prepare(message, inquiries.get(message.inquiry_id))))

    def _prepare(self, message: ClaimedMessage, inquiry: dict[str, Any] | None) -> Prepared:
        try:
            if inquiry is None:
                raise RenderError(f"inquiry {message.inquiry_id} is missing")
            if message.kind == OutboxKind.URGENT_WEBHOOK:
                return WebhookCall(message.recipient, self._renderer.webhook_payload(inquiry))
            # One step: rendering now takes less than the server's answer to one command.
            return self._renderer.email(
                message.kind, message.recipient, message.message_id, inquiry
            )
        except RenderError as error:
            return error
        except Exception as error:  # noqa: BLE001 - one bad message must not stall the batch
            return RenderError(f"{message.kind}: cannot be built: {type(error).__name__}: {error}")

    async def _deliver(self, message: ClaimedMessage, prepared: Prepared, mailer: Mailer) -> Result:
        try:
            if isinstance(prepared, RenderError):
                return self._dead(message, str(prepared))
            if isinstance(prepared, WebhookCall):
                await self._send_webhook(message, prepared)
            else:
                await mailer.send(prepared)
        except DeliveryError as error:
            if error.permanent:
                return self._dead(message, str(error))
            return self._retry(message, str(error))
        except Exception as error:  # noqa: BLE001 - unforeseen: keep it, retry it, say so
            log.exception(
                "outbox %d (%s): unexpected failure", message.id, message.kind, extra=_ids(message)
            )
            return self._retry(message, f"unexpected: {type(error).__name__}")
        return Result(message, OutboxStatus.SENT)

    async def _send_webhook(self, message: ClaimedMessage, call: WebhookCall) -> None:
        if self._webhook is None:
            self._webhook = WebhookSender(self._settings)
        await self._webhook.send(call.url, call.body, message.message_id)

    def _retry(self, message: ClaimedMessage, error: str) -> Result:
        now = self._clock()
        if now - as_utc(message.created_at) >= self._lifetime:
            return self._dead(message, f"gave up after {self._lifetime}: {error}")
        retry_at = now + retry_delay(message.attempts + 1, self._rng)
        log.warning(
            "outbox %d (%s) failed, retrying at %s: %s",
            message.id,
            message.kind,
            retry_at,
            error,
            extra=_ids(message),
        )
        return Result(message, OutboxStatus.PENDING, error, retry_at)

    def _dead(self, message: ClaimedMessage, error: str) -> Result:
        # Loud on purpose: a dead message is an inquiry someone has not been told about.
        log.error(
            "outbox %d (%s) is dead: %s", message.id, message.kind, error, extra=_ids(message)
        )
        return Result(message, OutboxStatus.DEAD, error)


def _ids(message: ClaimedMessage) -> dict[str, object]:
    """The fields a log line about one message carries (JSON logs): its id and kind only."""
    return {"outbox_id": message.id, "kind": message.kind}
