"""Entry points behind `inquiry worker` and `inquiry outbox …`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from typing import TextIO

from inquiry import outbox
from inquiry.callbacks.schedule import calendar_for
from inquiry.config import Settings
from inquiry.db import check_schema, create_engine
from inquiry.metrics import Metrics
from inquiry.models import OutboxStatus, utcnow
from inquiry.notify.listen import outbox_notifications
from inquiry.notify.worker import OutboxWorker
from inquiry.observability.server import MetricsServer

log = logging.getLogger(__name__)


async def run_worker(settings: Settings) -> None:
    """Deliver until SIGTERM or SIGINT, then finish or hand back what is in hand."""
    # The worker delivers what `inquiry serve` stored: it never creates a database of its own.
    await check_schema(settings)
    for warning in settings.start_up_warnings():
        log.warning("%s", warning)
    engine = create_engine(settings)
    metrics = Metrics() if settings.metrics_port else None
    worker = OutboxWorker(engine, settings, metrics=metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if metrics is not None and settings.metrics_port is not None:
                server = MetricsServer(
                    metrics,
                    engine,
                    host=settings.metrics_host,
                    port=settings.metrics_port,
                    calendar=calendar_for(settings),
                )
                await server.start()
                stack.push_async_callback(server.stop)
            if not settings.is_sqlite:
                await stack.enter_async_context(
                    outbox_notifications(settings.database_url, worker.notify)
                )
            worker.start()
            log.info("outbox worker started; links in emails use %s", settings.public_base_url)
            await stop.wait()
            log.info("stopping: finishing the message in hand")
            await worker.stop()
    finally:
        await engine.dispose()


async def outbox_command(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Run `inquiry outbox list|retry|stats`: on an existing database only, never creating one."""
    await check_schema(settings)
    engine = create_engine(settings)
    try:
        if args.outbox_command == "list":
            status = OutboxStatus(args.status) if args.status else None
            rows = await outbox.list_messages(engine, status=status, limit=args.limit)
            if not rows:
                which = f"{status.value} " if status else ""
                out.write(f"no {which}messages in the outbox\n")
            for row in rows:
                out.write(
                    f"{row['id']:>8} {row['status']:<8} {row['kind']:<24} {row['reference']} "
                    f"attempts={row['attempts']} next={row['next_attempt_at']:%Y-%m-%d %H:%M} "
                    f"error={row['last_error'] or '-'}\n"
                )
            return 0
        if args.outbox_command == "retry":
            if await outbox.requeue(engine, args.id, now=utcnow()):
                out.write(f"message {args.id} queued again\n")
                return 0
            out.write(f"message {args.id} is not dead (or does not exist)\n")
            return 1
        out.write(json.dumps(await outbox.counts(engine)) + "\n")
        return 0
    finally:
        await engine.dispose()
