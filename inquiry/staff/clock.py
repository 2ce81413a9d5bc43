"""The clock staff features read: injected through app.state so tests move time, not sleep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]  # returns an aware UTC datetime
