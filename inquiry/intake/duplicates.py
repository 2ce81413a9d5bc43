"""The same person writing twice: a new inquiry linked to their open one, and one task.

Runs inside the intake writer's transaction, after the batch's inquiries are inserted and
before their tasks are. A new inquiry whose email or phone key (inquiry.contacts) matches an
inquiry still new, in progress or waiting, received within INQUIRY_DUPLICATE_WINDOW_DAYS, is
linked to it (to the first of a chain, so links never nest) when the names share a word too.
It owes no task of its own: the open task takes the higher priority of the two and answers
both. When the inquiry it is linked to has no open task, the new one keeps its own.

Two submissions from one person at once must make one task, whichever process stores them.
SQLite has one writer at a time. PostgreSQL takes a transaction-scoped advisory lock per
contact key, in key order (no deadlock), before looking: the second transaction waits for
the first to commit and then sees its inquiry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from inquiry.callbacks.models import ACTIVE_STATUSES, Channel, task_table
from inquiry.contacts import EMAIL_KEY, NAME_KEY, PHONE_KEY
from inquiry.models import InquiryStatus, as_utc, inquiry_table

_LOCKS = sa.text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
    " FROM (SELECT unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS contact_keys"
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One stored inquiry of the batch, as the duplicate check sees it."""

    inquiry_id: int
    keys: Sequence[str]  # its contact keys; only email and phone keys are compared
    open: bool  # not quarantined


def contact_keys_of(keys: Sequence[str]) -> list[str]:
    """The keys that identify a person: email address and phone number, not name words."""
    return [key for key in keys if key.startswith((EMAIL_KEY, PHONE_KEY))]


def name_keys_of(keys: Sequence[str]) -> list[str]:
    """The keys of the words of a person's name."""
    return [key for key in keys if key.startswith(NAME_KEY)]


def link(
    connection: sa.Connection, batch: Sequence[Candidate], *, now: datetime, window: timedelta
) -> dict[int, int]:
    """Link each new inquiry of the batch that duplicates an open one; returns {new id:
    the id it is linked to}. Earlier inquiries of the same batch count as open ones."""
    keys = sorted({key for c in batch if c.open for key in contact_keys_of(c.keys)})
    if not keys or window <= timedelta(0):
        return {}
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCKS, {"keys": keys})
    stored = _open_by_key(connection, keys, [c.inquiry_id for c in batch], now - window)
    batch_names = sorted({key for c in batch if c.open for key in name_keys_of(c.keys)})
    names = _shared_name_keys(connection, set(stored.values()), batch_names)
    links: dict[int, int] = {}
    for candidate in batch:
        own = contact_keys_of(candidate.keys)
        if not candidate.open or not own:
            continue
        # A shared address or number alone is not the same person (a family's email, a
        # parent writing for a child): the names must share a word too, or a crisis would be
        # answered on someone else's call.
        own_names = set(name_keys_of(candidate.keys))
        matches = [stored[key] for key in own if key in stored and names[stored[key]] & own_names]
        if matches:
            links[candidate.inquiry_id] = min(matches)
        # Later inquiries of the batch link to this one's first, or to this one.
        first = links.get(candidate.inquiry_id, candidate.inquiry_id)
        names.setdefault(first, own_names)
        for key in own:
            stored.setdefault(key, first)
    if links:
        connection.execute(
            sa.update(inquiry_table)
            .where(inquiry_table.c.id == sa.bindparam("new_id"))
            .values(duplicate_of=sa.bindparam("first_id")),
            [{"new_id": new, "first_id": first} for new, first in links.items()],
        )
    return links


# The columns a merge may change on the open task.
_MERGED = (
    "priority",
    "priority_rank",
    "queue_band",
    "on_call",
    "due_at",
    "first_due_at",
    "channel",
    "voicemail_ok",
    "phone",
    "email",
)
_ACTIVE = sorted(status.value for status in ACTIVE_STATUSES)
_OPEN_TASKS = (
    sa.select(task_table.c.id, task_table.c.inquiry_id, *(task_table.c[c] for c in _MERGED))
    .where(
        task_table.c.inquiry_id.in_(sa.bindparam("first_ids", expanding=True)),
        task_table.c.status.in_(_ACTIVE),
    )
    .order_by(task_table.c.id)
    .with_for_update()
)
_UPDATE_MERGED = (
    sa.update(task_table)
    .where(task_table.c.id == sa.bindparam("task_id"))
    .values({column: sa.bindparam(f"new_{column}") for column in _MERGED})
)


def merge_tasks(connection: sa.Connection, owed: Sequence[tuple[int, dict[str, Any]]]) -> set[int]:
    """Fold the tasks a batch's duplicates owe, (id linked to, task owed) in the batch's
    order, into the open task of the inquiry each is linked to: the higher priority of the
    two, the earlier due time, a call rather than an email when the duplicate gave a number.
    Returns the ids linked to that have no open task: their duplicates keep their own.

    One read and one update for the whole batch, where a read and an update per duplicate
    made a person who writes again and again cost two statements a message.
    """
    if not owed:
        return set()
    rows = connection.execute(_OPEN_TASKS, {"first_ids": sorted({first for first, _ in owed})})
    # Ascending ids: an inquiry's newest open task is the one kept.
    open_task = {row.inquiry_id: _as_merged(row._mapping) for row in rows}
    changed: dict[int, dict[str, Any]] = {}
    for first_id, task_owed in owed:
        task = open_task.get(first_id)
        if task is not None and _merge(task, task_owed):
            changed[task["id"]] = task
    if changed:
        connection.execute(
            _UPDATE_MERGED,
            [
                {"task_id": task_id, **{f"new_{c}": task[c] for c in _MERGED}}
                for task_id, task in changed.items()
            ],
        )
    return {first_id for first_id, _ in owed if first_id not in open_task}


def _as_merged(row: Any) -> dict[str, Any]:
    task = dict(row)
    task["due_at"] = as_utc(task["due_at"])
    task["first_due_at"] = as_utc(task["first_due_at"])
    return task


def _merge(task: dict[str, Any], owed: dict[str, Any]) -> bool:
    """Apply what the duplicate owes to the open task's columns; whether any changed."""
    changes: dict[str, Any] = {}
    if owed["priority_rank"] < task["priority_rank"]:
        changes.update(
            {
                column: owed[column]
                for column in ("priority", "priority_rank", "queue_band", "on_call")
            }
        )
    if owed["due_at"] < task["due_at"]:
        changes["due_at"] = owed["due_at"]
    # The service level holds the task to the earlier of the two promises.
    if owed["first_due_at"] < task["first_due_at"]:
        changes["first_due_at"] = owed["first_due_at"]
    if owed["channel"] == Channel.PHONE and task["channel"] == Channel.EMAIL:
        changes.update(channel=Channel.PHONE.value, voicemail_ok=owed["voicemail_ok"])
    for contact in ("phone", "email"):
        if task[contact] is None and owed[contact] is not None:
            changes[contact] = owed[contact]
    task.update(changes)
    return bool(changes)


def _shared_name_keys(
    connection: sa.Connection, inquiry_ids: set[int], name_keys: list[str]
) -> dict[int, set[str]]:
    """Which of these name-word keys (the batch's) each of these inquiries has: all that the
    comparison with the batch's names needs, read by primary key (key, inquiry id) where all
    of an inquiry's name keys were a scan of every name key stored."""
    names: dict[int, set[str]] = {inquiry_id: set() for inquiry_id in inquiry_ids}
    if not inquiry_ids or not name_keys:
        return names
    ids = sorted(inquiry_ids)
    if connection.dialect.name == "postgresql":
        rows = connection.execute(_SHARED_NAMES_PG, {"keys": name_keys, "ids": ids})
        found = [(key, inquiry_id) for key, found_ids in rows for inquiry_id in found_ids or ()]
    else:
        values = {"keys": json.dumps(name_keys), "ids": json.dumps(ids)}
        found = [(key, inquiry_id) for key, inquiry_id in connection.execute(_SHARED_NAMES, values)]
    for key, inquiry_id in found:
        names[inquiry_id].add(key)
    return names


_SHARED_NAMES = sa.text(
    "SELECT key, inquiry_id FROM inquiry_contact_key"
    " WHERE key IN (SELECT value FROM json_each(:keys))"
    " AND inquiry_id IN (SELECT value FROM json_each(:ids))"
)
# Key by key (the aggregate keeps the planner from turning it into a join that, without
# statistics, scans the table).
_SHARED_NAMES_PG = sa.text(
    "SELECT wanted.key, found.ids FROM unnest(CAST(:keys AS text[])) AS wanted(key)"
    " JOIN LATERAL ("
    "  SELECT array_agg(k.inquiry_id) AS ids FROM inquiry_contact_key AS k"
    "  WHERE k.key = wanted.key AND k.inquiry_id = ANY(CAST(:ids AS integer[]))"
    " ) AS found ON true"
)


def _open_by_key(
    connection: sa.Connection, keys: list[str], batch_ids: list[int], since: datetime
) -> dict[str, int]:
    """For each key, the first inquiry (of a chain) among the open ones received since
    `since` with it."""
    if connection.dialect.name == "postgresql":
        query, lists = _OPEN_BY_KEY_PG, {"keys": keys, "batch_ids": batch_ids}
    else:
        query, lists = _OPEN_BY_KEY, {"keys": json.dumps(keys), "batch_ids": json.dumps(batch_ids)}
    rows = connection.execute(query, {**lists, "since": since})
    return {key: int(first_id) for key, first_id in rows if first_id is not None}


# One aggregate statement: however many inquiries one person has sent, one row per key comes
# back, where a row per inquiry through Python made a visitor (or a script) who writes again
# and again slower to store at each message. The lists are bound as one value each (a JSON
# array on SQLite, an array on PostgreSQL), so the statement's text is the same for every
# batch: prepared once, where lists written out made a new statement for each length.
_SINCE = sa.bindparam("since", type_=sa.DateTime(timezone=True))
# An inquiry still open: any status but closed.
_OPEN = "i.status IN ({})".format(
    ", ".join(f"'{status}'" for status in InquiryStatus if status is not InquiryStatus.CLOSED)
)
_OPEN_BY_KEY = sa.text(
    "SELECT k.key, min(coalesce(i.duplicate_of, i.id))"  # noqa: S608 - the enum's own values
    " FROM inquiry_contact_key AS k JOIN inquiry AS i ON i.id = k.inquiry_id"
    " WHERE k.key IN (SELECT value FROM json_each(:keys))"
    " AND k.inquiry_id NOT IN (SELECT value FROM json_each(:batch_ids))"
    f" AND {_OPEN} AND i.created_at >= :since"
    " GROUP BY k.key"
).bindparams(_SINCE)
# PostgreSQL looks each key up on its own (LATERAL over the keys) and each of its inquiries by
# primary key (LATERAL, LIMIT 1, which keeps the planner from flattening it into a join).
# Planned as joins with no statistics yet (a new database, or before autovacuum's first
# ANALYZE), it scanned the whole inquiry table, then the whole key table: 6.6 ms a batch
# after 4,000 inquiries, where these lookups take 0.3.
_OPEN_BY_KEY_PG = sa.text(
    "SELECT wanted.key, first_open.first"  # noqa: S608 - the enum's own values
    " FROM unnest(CAST(:keys AS text[])) AS wanted(key)"
    " JOIN LATERAL ("
    "  SELECT min(open_inquiry.first) AS first FROM inquiry_contact_key AS k"
    "  JOIN LATERAL ("
    "   SELECT coalesce(i.duplicate_of, i.id) AS first FROM inquiry AS i"
    f"   WHERE i.id = k.inquiry_id AND {_OPEN}"
    "   AND i.created_at >= :since LIMIT 1"
    "  ) AS open_inquiry ON true"
    "  WHERE k.key = wanted.key AND k.inquiry_id <> ALL(CAST(:batch_ids AS integer[]))"
    " ) AS first_open ON true"
).bindparams(_SINCE)
