"""The clock staff features read: injected through app.state so tests move time, not sleep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]  # returns an aware UTC datetime


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes from timezone-aware columns: they are UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)
