"""Dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import Settings
from inquiry.intake.guards import SubmissionLimiter, client_ip, origin_allowed
from inquiry.intake.service import IntakeService


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def get_intake(request: Request) -> IntakeService:
    intake: IntakeService = request.app.state.intake
    return intake


def get_limiter(request: Request) -> SubmissionLimiter:
    limiter: SubmissionLimiter = request.app.state.limiter
    return limiter


def get_client_ip(request: Request) -> str:
    peer = request.client.host if request.client else None
    return client_ip(
        peer, request.headers.get("x-forwarded-for"), request.app.state.trusted_proxies
    )


def is_allowed_origin(request: Request) -> bool:
    """Browsers send Origin on cross-site posts; requests without one are not from a page."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    settings: Settings = request.app.state.settings
    own = {f"{request.url.scheme}://{request.url.netloc}", _origin_of(settings.public_base_url)}
    return origin_allowed(origin, own, settings.allowed_origins)


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
IntakeDep = Annotated[IntakeService, Depends(get_intake)]
LimiterDep = Annotated[SubmissionLimiter, Depends(get_limiter)]
ClientIpDep = Annotated[str, Depends(get_client_ip)]
