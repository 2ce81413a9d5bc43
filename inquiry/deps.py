"""Dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.config import Settings
from inquiry.errors import OriginNotAllowed
from inquiry.intake.guards import SubmissionLimiter, client_ip, origin_allowed
from inquiry.intake.service import IntakeService


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def get_intake(request: Request) -> IntakeService:
    intake: IntakeService = request.app.state.intake
    return intake


async def get_limiter(request: Request) -> SubmissionLimiter:
    limiter: SubmissionLimiter = request.app.state.limiter
    return limiter


async def get_client_ip(request: Request) -> str:
    return client_address(request)


# Dependencies are async although they do no I/O: FastAPI runs plain `def` ones in a thread.


def client_address(request: Request) -> str:
    peer = request.client.host if request.client else None
    return client_ip(
        peer, request.headers.get("x-forwarded-for"), request.app.state.trusted_proxies
    )


async def guard_submission(request: Request) -> None:
    """Refuse foreign origins and over-limit clients before the body is even validated."""
    if not is_allowed_origin(request):
        raise OriginNotAllowed()
    limiter: SubmissionLimiter = request.app.state.limiter
    await limiter.hit_client(client_address(request))


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
