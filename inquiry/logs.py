"""Logging set-up. Lines are buffered and written twice a second, not one system call each."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FLUSH_SECONDS = 0.5


class BufferedStreamHandler(logging.Handler):
    """Collects formatted lines and writes them in one go; errors are written at once."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._pending: list[str] = []
        self._closed = threading.Event()
        threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:  # noqa: BLE001 - logging must never break a request
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
        if record.levelno >= logging.WARNING:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._pending = self._pending, []
        if lines:
            self._stream.write("".join(lines))
            self._stream.flush()

    def _flush_periodically(self) -> None:
        while not self._closed.wait(FLUSH_SECONDS):
            self.flush()

    def close(self) -> None:
        self._closed.set()
        self.flush()
        super().close()


def configure_logging(level: int = logging.INFO) -> None:
    handler = BufferedStreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
