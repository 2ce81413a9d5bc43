"""Logging set-up, and an access log that stays off the request's path.

A request leaves a small tuple; the line is formatted and written later, in bulk, twice a
second (measured: a logging.info call per request cost about 15% of intake throughput).
Other records are rare and written at once.

Lines are text, or JSON objects (INQUIRY_LOG_FORMAT=json) for a log collector. Either way no
line carries what a visitor wrote: the access log has the path without its query, and any
email address in another record's message is blanked before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

from inquiry.config import LogFormat

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FLUSH_SECONDS = 0.5

# The request being answered, for the lines logged while answering it.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# What a record may carry besides its message (passed as `extra=`): ids and names of kinds,
# never content.
EXTRA_FIELDS = ("outbox_id", "kind", "task_id", "route", "status", "duration_ms")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

Request = tuple[float, str, str, int, float, str | None, str | None]


class AccessLog:
    """Method, path, route, status, time and request id of each request: never query strings,
    never bodies."""

    def __init__(self) -> None:
        self._stream: TextIO | None = None
        self._line: Callable[..., str] = _text_line
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._flusher: threading.Thread | None = None

    def start(self, stream: TextIO, log_format: LogFormat = LogFormat.TEXT) -> None:
        """Write to `stream` from now on, in this format (until then, nothing is kept)."""
        with self._lock:
            self._stream = stream
            self._line = _json_line if log_format is LogFormat.JSON else _text_line
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_periodically, name="access-log", daemon=True
            )
            self._flusher.start()

    def record(
        self,
        method: str,
        path: str,
        status: int,
        milliseconds: float,
        route: str | None = None,
        request_id: str | None = None,
    ) -> None:
        if self._stream is not None:
            # list.append is atomic: no lock on the request path.
            self._requests.append(
                (time.time(), method, path, status, milliseconds, route, request_id)
            )

    def flush(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
            if requests and self._stream is not None:
                line = self._line
                self._stream.write("".join(line(*request) for request in requests))
                self._stream.flush()

    def stop(self) -> None:
        """Write what is left and stop the flushing thread."""
        self._stopped.set()
        if self._flusher is not None:
            self._flusher.join()
        self.flush()

    def _flush_periodically(self) -> None:
        while not self._stopped.wait(FLUSH_SECONDS):
            self.flush()


def _text_line(
    at: float,
    method: str,
    path: str,
    status: int,
    milliseconds: float,
    route: str | None,
    request_id: str | None,
) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    millis = int(at * 1000) % 1000
    request = f"{method} {path} {status} {milliseconds:.1f}ms"
    return f"{stamp},{millis:03d} INFO inquiry.access {request}\n"


def _json_line(
    at: float,
    method: str,
    path: str,
    status: int,
    milliseconds: float,
    route: str | None,
    request_id: str | None,
) -> str:
    entry = {
        "time": _utc(at),
        "level": "INFO",
        "logger": "inquiry.access",
        "message": f"{method} {path} {status}",
        "request_id": request_id,
        "method": method,
        "path": path,
        "route": route,
        "status": status,
        "duration_ms": round(milliseconds, 2),
    }
    return orjson.dumps(entry).decode() + "\n"


def _utc(at: float) -> str:
    millis = int(at * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request id when there is one,
    the record's known extra fields, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = record.__dict__
        for name in EXTRA_FIELDS:
            if name in fields:
                entry[name] = fields[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class _NoAddresses(logging.Filter):
    """Blanks email addresses in a record's message: a relay's refusal may quote the
    recipient, and no visitor's address belongs in a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message:
            record.msg = _ADDRESS.sub("[address]", message)
            record.args = None
        return True


ACCESS_LOG = AccessLog()


def log_handler(stream: TextIO, log_format: LogFormat) -> logging.Handler:
    """A handler writing records to `stream` in this format, addresses blanked."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_NoAddresses())
    json = log_format is LogFormat.JSON
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(FORMAT))
    return handler


def configure_logging(level: int = logging.INFO, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Log to stderr in this format; called again, it switches (once settings are read)."""
    handler = log_handler(sys.stderr, log_format)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Migrations say what they do only under `inquiry migrate` (cli.py turns them up there):
    # other commands that bring the embedded database up to date print only their own output.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if level <= logging.INFO:
        ACCESS_LOG.start(sys.stderr, log_format)
