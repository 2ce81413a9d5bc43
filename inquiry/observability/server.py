"""/metrics on INQUIRY_METRICS_PORT, apart from the public port.

prometheus_client's own HTTP server, in a thread: scrapes never wait behind visitors on the
event loop, and the loop does no work for them except the database gauges' queries.
One server per process: `inquiry serve` and each `inquiry worker` have a port of their own.
"""

from __future__ import annotations

import asyncio
import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.callbacks.schedule import BusinessCalendar
from inquiry.metrics import Metrics
from inquiry.observability.gauges import DatabaseGauges

log = logging.getLogger(__name__)


class MetricsServer:
    """Serves a process's metrics, with the database gauges read through its engine."""

    def __init__(
        self,
        metrics: Metrics,
        engine: AsyncEngine,
        *,
        host: str,
        port: int,
        calendar: BusinessCalendar | None = None,
    ) -> None:
        self._metrics = metrics
        self._engine = engine
        self._calendar = calendar
        self._host = host
        self._port = port
        self._gauges: DatabaseGauges | None = None
        self._server: WSGIServer | None = None

    async def start(self) -> None:
        """Bind the port (a port in use stops the process with a clear message) and serve."""
        self._gauges = DatabaseGauges(
            self._engine, asyncio.get_running_loop(), calendar=self._calendar
        )
        self._metrics.registry.register(self._gauges)
        try:
            self._server, _ = start_http_server(
                self._port, addr=self._host, registry=self._metrics.registry
            )
        except OSError as error:
            self._metrics.registry.unregister(self._gauges)
            raise RuntimeError(
                f"metrics cannot be served on {self._host}:{self._port} "
                f"(INQUIRY_METRICS_HOST, INQUIRY_METRICS_PORT): {error}"
            ) from error
        log.info("metrics on http://%s:%d/metrics", self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            # In a thread: a scrape in progress may be waiting for this loop to answer it.
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
            self._server = None
        if self._gauges is not None:
            self._metrics.registry.unregister(self._gauges)
            self._gauges = None
