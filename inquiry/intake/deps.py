"""Request dependencies of intake's routes and the hosted form: guards before the body is read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from inquiry.config import Settings
from inquiry.deps import from_state
from inquiry.errors import OriginNotAllowed
from inquiry.intake.guards import SubmissionLimiter, origin_allowed
from inquiry.intake.service import IntakeService
from inquiry.proxies import client_address


async def guard_submission(request: Request) -> None:
    """Refuse foreign origins and over-limit clients before the body is even validated."""
    if not is_allowed_origin(request):
        raise OriginNotAllowed()
    limiter: SubmissionLimiter = request.app.state.limiter
    await limiter.hit_client(client_address(request))


def is_allowed_origin(request: Request) -> bool:
    """Browsers send Origin on cross-site posts; requests without one are not from a page.

    The service's own origin is the configured public address, never one read from the
    request: its Host header is the client's to write.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    settings: Settings = request.app.state.settings
    own = {_origin_of(settings.public_base_url)}
    return origin_allowed(origin, own, settings.allowed_origins)


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}".lower()


IntakeDep = Annotated[IntakeService, Depends(from_state("intake"))]
LimiterDep = Annotated[SubmissionLimiter, Depends(from_state("limiter"))]
