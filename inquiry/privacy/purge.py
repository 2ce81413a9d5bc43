"""Retention: what the clinic no longer needs is removed once its period is over.

- Quarantined spam (closed as spam) is deleted INQUIRY_SPAM_RETENTION_DAYS after it closed.
- Other closed inquiries lose their contact details and message INQUIRY_RETENTION_DAYS after
  they closed; their reference, topic, dates and history stay.
- The file transport's mail files are deleted INQUIRY_MAIL_FILE_RETENTION_DAYS after they
  were written, and at once with the inquiry they were about.
- Expired sign-in sessions and API tokens are deleted.

An inquiry closed when it was stored (quarantined at intake) closed at its creation. Run by
the worker's housekeeping and by `inquiry privacy purge`; each run is logged with its counts
(never content) and audited.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inquiry import mail_files, outbox
from inquiry.audit import Caller, record
from inquiry.config import Settings
from inquiry.lifecycle.models import status_change_table
from inquiry.models import QUARANTINED_SQL, CloseReason, InquiryStatus, inquiry_table, token_table
from inquiry.privacy import personal

log = logging.getLogger(__name__)

BATCH = 500  # inquiries removed in one transaction

t = inquiry_table
_CLOSED = InquiryStatus.CLOSED.value
# When an inquiry closed: its last move to closed, or its creation if it never moved there.
_CLOSED_AT = sa.func.coalesce(
    sa.select(sa.func.max(status_change_table.c.at))
    .where(status_change_table.c.inquiry_id == t.c.id, status_change_table.c.to_status == _CLOSED)
    .scalar_subquery(),
    t.c.created_at,
)


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """How much one run removed (or, dry, would remove)."""

    spam_deleted: int
    inquiries_redacted: int
    mail_files_deleted: int
    tokens_deleted: int


async def purge(
    engine: AsyncEngine, settings: Settings, caller: Caller, *, dry_run: bool = False
) -> PurgeCounts:
    """Remove what is past its retention period as of `caller.now`; a dry run only counts.

    Inquiries go BATCH at a time, a transaction each: on SQLite every write waits for the one
    in hand, and intake must not wait for a year's backlog. The last transaction also removes
    expired tokens and writes the audit entry with the run's counts.
    """
    now = caller.now
    spam_cutoff = now - timedelta(days=settings.spam_retention_days)
    closed_cutoff = now - timedelta(days=settings.retention_days)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    limit = None if dry_run else BATCH
    spam_deleted = redacted = 0
    message_ids: list[str] = []
    while True:
        async with sessions() as session, session.begin():
            spam = await _closed_before(session, spam_cutoff, limit=limit)
            closed = await _closed_before(session, closed_cutoff, spam=False, limit=limit)
            message_ids += await outbox.message_ids_of(session, spam + closed)
            spam_deleted, redacted = spam_deleted + len(spam), redacted + len(closed)
            last = limit is None or (len(spam) < limit and len(closed) < limit)
            if last:
                tokens = await _expired_tokens(session, now)
                files = await asyncio.to_thread(_mail_files, settings, message_ids, now)
                counts = PurgeCounts(spam_deleted, redacted, len(files), len(tokens))
            if dry_run:
                log.info("privacy purge (dry run) would remove: %s", _told(counts))
                return counts
            await personal.delete(session, spam)
            await personal.remove(session, closed, at=now)
            if last:
                if tokens:
                    await session.execute(
                        sa.delete(token_table).where(token_table.c.id.in_(tokens))
                    )
                record(session, caller, "privacy.purge", None, **asdict(counts))
        if last:
            break
    # Files go once their rows are gone: a failed commit leaves both as they were.
    removed = await asyncio.to_thread(mail_files.remove, files)
    counts = PurgeCounts(spam_deleted, redacted, removed, len(tokens))
    log.info("privacy purge removed: %s", _told(counts))
    return counts


async def _closed_before(
    session: AsyncSession, cutoff: datetime, *, spam: bool = True, limit: int | None
) -> list[int]:
    """Closed spam (or, `spam=False`, other closed inquiries not yet redacted) that closed
    before `cutoff`."""
    query = sa.select(t.c.id).where(t.c.status == _CLOSED, _CLOSED_AT < cutoff).order_by(t.c.id)
    if spam:
        # Worded as the partial index is, so that SQLite reads only quarantined rows.
        query = query.where(sa.text(f"inquiry.{QUARANTINED_SQL}"))
    else:
        query = query.where(t.c.close_reason != CloseReason.SPAM.value, t.c.redacted_at.is_(None))
    return list(await session.scalars(query.limit(limit)))


async def _expired_tokens(session: AsyncSession, now: datetime) -> list[int]:
    query = sa.select(token_table.c.id).where(token_table.c.expires_at <= now)
    return list(await session.scalars(query))


def _mail_files(settings: Settings, message_ids: list[str], now: datetime) -> list[Path]:
    """Mail files past their period, and those of the inquiries being removed."""
    folder = settings.mail_dir
    cutoff = now - timedelta(days=settings.mail_file_retention_days)
    found = {*mail_files.older_than(folder, cutoff), *mail_files.files_of(folder, message_ids)}
    return sorted(found)


def _told(counts: PurgeCounts) -> str:
    return ", ".join(
        f"{name.replace('_', ' ')} {number}" for name, number in asdict(counts).items()
    )
