"""Inquiry lifecycle: statuses, notes, assignment, and contact keys to search by.

An inquiry is new, in progress, waiting (until waiting_until) or closed (for close_reason);
quarantined spam becomes closed as spam. Existing inquiries get the status their callback
task implies: a call that reached the visitor (or that they declined) closed it as resolved;
one given up as unreachable closed it as unreachable, unless it was a wrong number and an
email address is left to try; a task claimed, attempted or cancelled means someone worked
it; a task nobody touched leaves it new. Each such move is written to the status history.

inquiry_contact_key holds what staff search by: the email lower-cased, the phone in E.164
and each word of the name folded to plain lower case (as inquiry.contacts makes them at
intake); existing inquiries get theirs here. It replaces the email index 0003 dropped.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12
"""

import re
import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_BATCH = 1000
_NEW_PARTIAL = {
    "ix_inquiry_worked": (["status", "created_at", "id"], "status IN ('in_progress', 'waiting')"),
    "ix_inquiry_waiting_until": (["waiting_until"], "status = 'waiting'"),
    "ix_inquiry_assignee": (["assignee_id", "created_at", "id"], "assignee_id IS NOT NULL"),
}

# Existing inquiries, by their callback task; applied in this order to inquiries still 'new'.
_BY_TASK = (
    ("closed", "resolved", "t.status = 'done'"),
    (
        "closed",
        "unreachable",
        "t.status = 'unreachable' AND (t.close_reason <> 'wrong_number' OR inquiry.email IS NULL)",
    ),
    ("closed", "spam", "t.status = 'cancelled' AND t.close_reason = 'triage override: spam'"),
    (
        "in_progress",
        None,
        "t.status IN ('claimed', 'unreachable', 'cancelled') OR t.attempts > 0",
    ),
)


_NEW_WITH_TASK = (
    "SELECT id FROM inquiry WHERE inquiry.status = 'new' AND EXISTS"
    " (SELECT 1 FROM callback_task t WHERE t.inquiry_id = inquiry.id"
)


def _name_words(text: str) -> list[str]:
    """inquiry.contacts.name_words as this revision made the keys (a test holds them equal)."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = re.sub(
        "['\u2019\u02bc]", "", "".join(c for c in folded if not unicodedata.combining(c))
    )
    words = dict.fromkeys(word[:40] for word in re.findall(r"[^\W_]+", plain))
    return list(words)[:8]


def _keys(name: str, email: str | None, phone: str | None) -> list[str]:
    keys = ["n:" + word for word in _name_words(name)]
    if email:
        keys.append("e:" + email.lower())
    if phone:
        keys.append("p:" + phone)
    return keys


def _partial(name: str, columns: list[str], where: str) -> None:
    op.create_index(
        name,
        "inquiry",
        columns,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.add_column("inquiry", sa.Column("close_reason", sa.String(16)))
    op.add_column("inquiry", sa.Column("waiting_until", _TS))
    if sqlite:
        # SQLite adds a column with its foreign key in place; Alembic would copy the table.
        op.execute("ALTER TABLE inquiry ADD COLUMN assignee_id INTEGER REFERENCES staff (id)")
    else:
        op.add_column("inquiry", sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("staff.id")))

    op.create_table(
        "inquiry_status_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inquiry_id", sa.Integer(), sa.ForeignKey("inquiry.id"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id")),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("close_reason", sa.String(16)),
        sa.Column("cause", sa.String(500)),
        sa.Column("until", _TS),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_inquiry_status_change_inquiry_id", "inquiry_status_change", ["inquiry_id"])
    op.create_table(
        "inquiry_note",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inquiry_id", sa.Integer(), sa.ForeignKey("inquiry.id"), nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_inquiry_note_inquiry_id", "inquiry_note", ["inquiry_id"])
    op.create_table(
        "inquiry_contact_key",
        sa.Column("key", sa.String(260), primary_key=True),
        sa.Column("inquiry_id", sa.Integer(), sa.ForeignKey("inquiry.id"), primary_key=True),
        sqlite_with_rowid=False,
    )

    _statuses(bind)
    _contact_keys(bind)

    op.drop_index("ix_inquiry_quarantined", table_name="inquiry")
    _partial("ix_inquiry_quarantined", ["created_at"], "close_reason = 'spam'")
    for name, (columns, where) in _NEW_PARTIAL.items():
        _partial(name, columns, where)


def _statuses(bind: sa.Connection) -> None:
    op.execute(
        "UPDATE inquiry SET status = 'closed', close_reason = 'spam' WHERE status = 'quarantined'"
    )
    op.execute(
        "UPDATE inquiry SET close_reason = 'resolved'"
        " WHERE status = 'closed' AND close_reason IS NULL"
    )
    now = sa.bindparam("now", datetime.now(UTC), type_=_TS)
    for status, reason, task in _BY_TASK:
        query = _NEW_WITH_TASK + f" AND ({task}))"  # noqa: S608 - our own conditions
        ids = [row[0] for row in bind.execute(sa.text(query))]
        if not ids:
            continue
        bind.execute(
            sa.text(
                "UPDATE inquiry SET status = :status, close_reason = :reason WHERE id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"status": status, "reason": reason, "ids": ids},
        )
        bind.execute(
            sa.text(
                "INSERT INTO inquiry_status_change"
                " (inquiry_id, at, from_status, to_status, close_reason, cause)"
                " SELECT id, :now, 'new', :status, :reason, 'callback task' FROM inquiry"
                " WHERE id IN :ids"
            ).bindparams(now, sa.bindparam("ids", expanding=True)),
            {"status": status, "reason": reason, "ids": ids},
        )


def _contact_keys(bind: sa.Connection) -> None:
    keys = sa.table("inquiry_contact_key", sa.column("key"), sa.column("inquiry_id"))
    after = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, name, email, phone FROM inquiry WHERE id > :after ORDER BY id"
                " LIMIT :batch"
            ),
            {"after": after, "batch": _BATCH},
        ).all()
        if not rows:
            return
        values = [
            {"key": key, "inquiry_id": row.id}
            for row in rows
            for key in _keys(row.name, row.email, row.phone)
        ]
        if values:
            bind.execute(sa.insert(keys), values)
        after = rows[-1].id


def downgrade() -> None:
    for name in _NEW_PARTIAL:
        op.drop_index(name, table_name="inquiry")
    op.drop_index("ix_inquiry_quarantined", table_name="inquiry")
    op.drop_table("inquiry_contact_key")
    op.drop_table("inquiry_note")
    op.drop_table("inquiry_status_change")
    op.execute(
        "UPDATE inquiry SET status = CASE WHEN close_reason = 'spam' AND quarantine_reason"
        " IS NOT NULL THEN 'quarantined' ELSE 'new' END"
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_without_lifecycle_columns()
        return
    for column in ("assignee_id", "waiting_until", "close_reason"):
        op.drop_column("inquiry", column)
    _partial("ix_inquiry_quarantined", ["created_at"], "status = 'quarantined'")


def _inquiry_0005() -> sa.Table:
    """inquiry as 0005 left it, with its indexes."""
    metadata = sa.MetaData()
    table = sa.Table(
        "inquiry",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("quarantine_reason", sa.String(32)),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(20)),
        sa.Column("preferred_contact", sa.String(8), nullable=False),
        sa.Column("callback_window", sa.String(12), nullable=False),
        sa.Column("voicemail_ok", sa.Boolean(), nullable=False),
        sa.Column("visitor_topic", sa.String(16)),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("source_page", sa.String(500)),
        sa.Column("topic", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("crisis", sa.Boolean(), nullable=False),
        sa.Column("triage_reasons", sa.Text(), nullable=False),
        sa.Column("form_subject", sa.String(200)),
    )
    sa.Index("ix_inquiry_created_at", table.c.created_at)
    for name, where in (
        ("ix_inquiry_quarantined", "status = 'quarantined'"),
        ("ix_inquiry_crisis_at", "crisis"),
    ):
        sa.Index(name, table.c.created_at, sqlite_where=sa.text(where))
    return table


def _rebuild_without_lifecycle_columns() -> None:
    """SQLite cannot drop a column with a foreign key, and a copy of the table cannot take
    its place while other tables' rows refer to it: the rows are put aside, the table made
    again as 0005 had it, and the rows put back. Foreign keys are checked at commit, when
    every inquiry they refer to is there again."""
    table = _inquiry_0005()
    columns = ", ".join(column.name for column in table.columns)
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute(f"CREATE TEMP TABLE inquiry_0005 AS SELECT {columns} FROM inquiry")  # noqa: S608
    op.drop_table("inquiry")
    table.create(op.get_bind())
    op.execute(f"INSERT INTO inquiry ({columns}) SELECT {columns} FROM temp.inquiry_0005")  # noqa: S608
    op.execute("DROP TABLE temp.inquiry_0005")
