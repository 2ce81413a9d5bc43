"""The outbox: mail and alerts owed on inquiries, written in the transaction that owes them
and sent by the worker. This package is the one owner of outbox rows; everyone else calls it.

- `owed`: what an inquiry owes, how urgent each message is, its Message-ID.
- `queueing`: queue rows in the caller's transaction, wake the workers on commit, move
  unsent mail when a triage changes.
- `claims`: the worker's claim, lease renewal, record and hand-back (leases by the
  database's clock).
- `asyncpg_path`: the fast path those statements take on PostgreSQL.
- `erasure`: privacy duties on outbox rows: cancel unsent mail, forget recipients, delete.
- `admin`: what `inquiry outbox` lists, counts and requeues; the backlog the metrics report.
"""

from inquiry.outbox.admin import (
    Backlog,
    backlog,
    counts,
    list_messages,
    messages,
    requeue,
    requeue_dead,
)
from inquiry.outbox.asyncpg_path import Connection, transaction
from inquiry.outbox.claims import (
    CLAIMED_COLUMNS,
    ClaimedMessage,
    Result,
    claim_due,
    claimable,
    inquiries_for,
    new_token,
    record,
    release,
    renew,
    urgent_waiting,
)
from inquiry.outbox.erasure import (
    PERSONAL_COLUMNS,
    TABLE,
    cancel_unsent,
    delete_for,
    forget_recipients,
    message_ids_of,
    messages_of,
    unsent_count,
)
from inquiry.outbox.owed import (
    ALERT_KINDS,
    addressed,
    is_urgent,
    is_urgent_sql,
    message_ids,
    owed_on_decision,
    owed_on_intake,
    owed_on_release,
    owed_when_unreachable,
)
from inquiry.outbox.queueing import (
    OUTBOX_CHANNEL,
    enqueue,
    owe_decision_alert,
    owe_on_release,
    owe_unreachable,
    reorder_unsent,
    wake_workers,
)

__all__ = [
    "ALERT_KINDS",
    "CLAIMED_COLUMNS",
    "OUTBOX_CHANNEL",
    "PERSONAL_COLUMNS",
    "Backlog",
    "ClaimedMessage",
    "Connection",
    "Result",
    "TABLE",
    "addressed",
    "backlog",
    "cancel_unsent",
    "claim_due",
    "claimable",
    "counts",
    "delete_for",
    "enqueue",
    "forget_recipients",
    "inquiries_for",
    "is_urgent",
    "is_urgent_sql",
    "list_messages",
    "message_ids",
    "message_ids_of",
    "messages_of",
    "new_token",
    "owe_on_release",
    "owe_decision_alert",
    "owe_unreachable",
    "owed_on_decision",
    "owed_on_intake",
    "owed_on_release",
    "owed_when_unreachable",
    "record",
    "release",
    "renew",
    "reorder_unsent",
    "messages",
    "requeue",
    "requeue_dead",
    "transaction",
    "unsent_count",
    "urgent_waiting",
    "wake_workers",
]
