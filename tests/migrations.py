"""Helpers for tests that move the schema with Alembic or compare it with the models."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import inquiry.callbacks.models
import inquiry.lifecycle.models
import inquiry.privacy.models
import inquiry.staff.models  # noqa: F401 - registers every table with SQLModel.metadata
from inquiry.db import MIGRATIONS_DIR


def differences(connection: sa.Connection) -> list[Any]:
    """What Alembic would change to make the database match the models (empty: they agree)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    found: list[Any] = compare_metadata(context, SQLModel.metadata)
    return found


def move(connection: sa.Connection, direction: str, revision: str) -> None:
    """Upgrade or downgrade the database on this connection to `revision`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    getattr(command, direction)(config, revision)
