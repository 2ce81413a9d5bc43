"""Logging set-up, and an access log that stays off the request's path.

A request leaves a small tuple; the line is formatted and written later, in bulk, twice a
second (measured: a logging.info call per request cost about 15% of intake throughput).
Other records are rare and written at once.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FLUSH_SECONDS = 0.5


class AccessLog:
    """Method, path, status and time of each request: never query strings, never bodies."""

    def __init__(self) -> None:
        self._stream: TextIO | None = None
        self._requests: list[tuple[float, str, str, int, float]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self, stream: TextIO) -> None:
        """Write to `stream` from now on (until then, nothing is kept)."""
        self._stream = stream
        threading.Thread(target=self._flush_periodically, name="access-log", daemon=True).start()

    def record(self, method: str, path: str, status: int, milliseconds: float) -> None:
        if self._stream is not None:
            # list.append is atomic: no lock on the request path.
            self._requests.append((time.time(), method, path, status, milliseconds))

    def flush(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
            if requests and self._stream is not None:
                self._stream.write("".join(_line(*request) for request in requests))
                self._stream.flush()

    def _flush_periodically(self) -> None:
        while not self._stopped.wait(FLUSH_SECONDS):
            self.flush()


def _line(at: float, method: str, path: str, status: int, milliseconds: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    millis = int(at * 1000) % 1000
    request = f"{method} {path} {status} {milliseconds:.1f}ms"
    return f"{stamp},{millis:03d} INFO inquiry.access {request}\n"


ACCESS_LOG = AccessLog()


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Migrations say what they do only under `inquiry migrate` (cli.py turns them up there):
    # other commands that bring the embedded database up to date print only their own output.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if level <= logging.INFO:
        ACCESS_LOG.start(sys.stderr)
