"""create_app(settings): the one place where routers, middleware and lifespan are wired."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.middleware.cors import CORSMiddleware

from inquiry import __version__, api_docs, console, health
from inquiry.callbacks import api as callbacks_api
from inquiry.callbacks.schedule import calendar_for
from inquiry.config import Settings
from inquiry.db import create_engine, create_transactor
from inquiry.http_errors import install_error_handlers
from inquiry.intake import api as intake_api
from inquiry.intake.guards import SubmissionLimiter
from inquiry.intake.service import IntakeService
from inquiry.intake.writer import InquiryWriter
from inquiry.logs import ACCESS_LOG
from inquiry.metrics import Metrics
from inquiry.middleware import FORM_TYPES, JSON_TYPES, RequestGuard, document_body_limit
from inquiry.models import utcnow
from inquiry.notify.worker import OutboxWorker
from inquiry.observability.server import MetricsServer
from inquiry.proxies import parse_networks
from inquiry.shutdown import Shutdown
from inquiry.signing import Signer
from inquiry.staff import account_api as staff_account_api
from inquiry.staff import api as staff_api
from inquiry.staff import inquiries_api as staff_inquiries_api
from inquiry.staff.passwords import PasswordChecks
from inquiry.staff.throttle import LoginThrottle
from inquiry.triage import RulesError, reload_rules, use_rules
from inquiry.web import forms
from inquiry.web.receipt import Receipts

log = logging.getLogger(__name__)


def load_triage_rules(settings: Settings) -> None:
    """The clinic's rules file if one is configured, else the packaged rules (read once)."""
    use_rules(settings.triage_rules_path)


def _reload_rules_on_sighup() -> None:
    """`kill -HUP <pid>` re-reads the triage rules; a broken file leaves the old ones in use.

    Reading and compiling the rules takes about a second, so it runs in a thread: visitors
    keep being answered meanwhile (with the old rules), not held until it is done.
    """

    def reload() -> None:
        try:
            reload_rules()
        except RulesError as error:
            log.error("triage rules not reloaded, the previous rules stay in use: %s", error)
        except Exception:  # the thread's future is never awaited: say it here or nowhere
            log.exception("triage rules not reloaded, the previous rules stay in use")
        else:
            log.info("triage rules reloaded")

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, reload))
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        log.debug("SIGHUP reload not available")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for these settings (tests pass their own)."""
    settings = settings or Settings()
    # Counted only when they are served: off, the requests pay nothing for them.
    metrics = Metrics() if settings.metrics_port else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        load_triage_rules(settings)  # validated before the first visitor
        for warning in settings.start_up_warnings():
            log.warning("%s", warning)
        _reload_rules_on_sighup()
        engine = create_engine(settings)
        metrics_server = None
        if metrics is not None and settings.metrics_port is not None:
            metrics_server = MetricsServer(
                metrics,
                engine,
                host=settings.metrics_host,
                port=settings.metrics_port,
                calendar=calendar_for(settings),
            )
            try:
                await metrics_server.start()
            except BaseException:
                await engine.dispose()
                raise
        worker = (
            OutboxWorker(engine, settings, metrics=metrics) if settings.worker_in_process else None
        )
        transactor = create_transactor(settings, engine)
        writer = InquiryWriter(
            transactor,
            writers=1 if settings.is_sqlite else min(4, settings.database_pool_size),
            batch_max=settings.write_batch_max,
            message_domain=settings.message_domain,
            duplicate_window=timedelta(days=settings.duplicate_window_days),
            on_commit=worker.notify if worker else lambda: None,
        )
        limiter = SubmissionLimiter(settings)
        app.state.engine = engine
        app.state.limiter = limiter
        app.state.intake = IntakeService(settings, writer, limiter, metrics)
        app.state.outbox_worker = worker
        # Callback queue and staff: one session factory, the clock tests move, login throttle.
        app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
        app.state.clock = utcnow
        app.state.login_throttle = LoginThrottle(settings)
        password_checks = PasswordChecks(
            concurrent=settings.staff_password_checks_concurrent,
            waiting=settings.staff_password_checks_waiting,
        )
        app.state.password_checks = password_checks
        if worker:
            worker.start()
        try:
            yield
        finally:
            shutdown = Shutdown(settings.shutdown_seconds)
            await shutdown.step("the intake writer", writer.close())
            await shutdown.step("the intake transactor", transactor.close())
            if worker:
                await shutdown.step("the outbox worker", worker.stop())
            if metrics_server:
                await shutdown.step("the metrics server", metrics_server.stop())
            await shutdown.step("closing database connections", engine.dispose())
            app.state.shutdown_cut_short = shutdown.cut_short
            password_checks.close()
            ACCESS_LOG.flush()  # before uvicorn re-raises SIGTERM and the process ends

    app = FastAPI(
        title="inquiry",
        version=__version__,
        summary="Contact and inquiry service of the Ketamine Therapy Clinic",
        lifespan=lifespan,
        # No OpenTelemetry here; otherwise FastAPI looks for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # inquiry.api_docs serves them, from the package rather than a CDN, where allowed.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    secret = settings.secret_key.get_secret_value()
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.state.templates = Jinja2Templates(directory=settings.templates_dir)
    app.state.form_signer = Signer(secret, "form-token")
    app.state.receipts = Receipts(secret)

    def openapi() -> dict[str, Any]:
        document = intake_api.document_request_body(FastAPI.openapi(app))
        return document_body_limit(document, settings.max_body_bytes)

    app.openapi = openapi  # type: ignore[method-assign]
    install_error_handlers(app)
    # The busiest route sits first on the app itself: an included router adds a layer of
    # matching and scope bookkeeping to every request, and each route ahead a match attempt.
    app.router.routes[:0] = intake_api.router.routes
    app.include_router(forms.router)
    app.include_router(health.router)
    app.include_router(staff_api.public)
    app.include_router(staff_api.before_second_factor)
    app.include_router(staff_account_api.enrolling)
    app.include_router(staff_account_api.router)
    app.include_router(staff_api.admin)
    app.include_router(staff_inquiries_api.router)
    app.include_router(callbacks_api.router)
    console.install(app)
    api_docs.install(app, settings.api_docs_mode)

    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        content_types={"/api/v1/inquiries": JSON_TYPES, "/forms/contact": FORM_TYPES},
        frame_ancestors=settings.allowed_origins,
        submissions={"/api/v1/inquiries": "api", "/forms/contact": "form"},
        metrics=metrics,
    )
    # Outermost, so that even refusals carry CORS headers the site's script can read.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Idempotency-Key", "Accept-Language"],
        # The site's script may show the request id, for the visitor to quote when they call.
        expose_headers=["Retry-After", "Idempotency-Replayed", "X-Request-ID"],
        max_age=600,
    )
    return app
