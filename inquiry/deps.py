"""Request dependencies every router may use: settings, engine, session, clock, client address."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inquiry.config import Settings
from inquiry.models import MAX_ROW_ID
from inquiry.proxies import client_address

Clock = Callable[[], datetime]  # returns an aware UTC datetime; tests move it instead of sleeping


def from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency on what the app keeps in app.state under this name."""

    # Async although it does no I/O: FastAPI runs plain `def` dependencies in a thread.
    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    return dependency


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the route returns, rolled back if it raises."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        # Staff changes can queue mail (an unreachable visitor): let the worker look now.
        worker = getattr(request.app.state, "outbox_worker", None)
        if worker is not None:
            worker.notify()


async def get_client_ip(request: Request) -> str:
    return client_address(request)


SettingsDep = Annotated[Settings, Depends(from_state("settings"))]
EngineDep = Annotated[AsyncEngine, Depends(from_state("engine"))]
ClockDep = Annotated[Clock, Depends(from_state("clock"))]
ClientIpDep = Annotated[str, Depends(get_client_ip)]
# "function" scope: the commit happens before the answer is sent, so a 200 means stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# A number past MAX_ROW_ID names no row, and the driver refuses to send it at all: refused
# as a malformed id is, never passed to a query.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
