"""Every text column of every table is either personal (removed by retention and erasure) or
kept for a stated reason: a new column cannot be forgotten."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

import inquiry.callbacks.models
import inquiry.lifecycle.models
import inquiry.privacy.models
import inquiry.staff.models  # noqa: F401 - registers every table with SQLModel.metadata
from inquiry.models import inquiry_table
from inquiry.privacy.personal import (
    BELONGING,
    BY_THEIR_OWNER,
    DELETED,
    INQUIRY_LINKS,
    KEPT,
    PERSONAL,
)


def text_columns() -> set[str]:
    return {
        f"{table.name}.{column.name}"
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.String)  # Text and AutoString are Strings too
    }


def removed() -> set[str]:
    return {f"{entry.table.name}.{column}" for entry in PERSONAL for column in entry.columns} | {
        f"{entry.table.name}.{column.name}" for entry in DELETED for column in entry.table.columns
    }


def test_every_text_column_is_either_removed_or_kept_for_a_reason() -> None:
    unclassified = text_columns() - removed() - set(KEPT)
    assert unclassified == set(), "classify these in inquiry/privacy/personal.py"


def test_no_column_is_both_removed_and_kept_and_every_name_exists() -> None:
    columns = {
        f"{table.name}.{column.name}"
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
    }
    assert removed() & set(KEPT) == set()
    assert (removed() | set(KEPT)) - columns == set()
    assert all(reason.strip() for reason in KEPT.values())


def belongs_to_an_inquiry(table: sa.Table, seen: frozenset[str] = frozenset()) -> bool:
    for key in table.foreign_keys:
        parent = key.column.table
        if parent is inquiry_table:
            return True
        if parent.name not in seen and isinstance(parent, sa.Table):
            if belongs_to_an_inquiry(parent, seen | {table.name}):
                return True
    return False


def test_deleting_an_inquiry_deletes_every_table_that_points_at_it() -> None:
    pointing = {
        table.name for table in SQLModel.metadata.sorted_tables if belongs_to_an_inquiry(table)
    }
    # The inquiry table's links to other inquiries are undone, not deleted.
    links = {
        key.parent.name for key in inquiry_table.foreign_keys if key.column.table is inquiry_table
    }
    assert links == set(INQUIRY_LINKS)
    pointing.discard(inquiry_table.name)
    assert pointing == {entry.table.name for entry in BELONGING} | set(BY_THEIR_OWNER)
    # Children before parents: a row is deleted before the row it points at.
    order = [entry.table.name for entry in BELONGING]
    for position, entry in enumerate(BELONGING):
        for key in entry.table.foreign_keys:
            parent = key.column.table.name
            if parent in order:
                assert order.index(parent) > position, f"{entry.table.name} before {parent}"
