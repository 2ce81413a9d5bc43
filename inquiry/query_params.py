"""Query parameters of the staff routes: unknown ones refused, times read one way.

A misspelt or unknown filter (`?q=Dana` where there is no search, `?reference=`) would
otherwise be ignored, and the answer would be everything, as if nothing had been asked:
a 422 naming the parameter says what went wrong. Routers declare `refuse_unknown_query`
after authentication, so that a caller without a token learns nothing from it.

`Instant` is a time filter (`since`, `until`): an ISO 8601 date and time with its offset,
turned into UTC, the form times are stored in. A number ("0.5" read as seconds since 1970) or
a time without an offset (whose zone nobody can know) is a 422, not a silent guess.
"""

from __future__ import annotations

import re
import weakref
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

# By the route's id, with the route itself (weakly) to tell a new route from a dead one.
_known: dict[int, tuple[weakref.ref[APIRoute], frozenset[str]]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route reads, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


def known_query(route: APIRoute) -> frozenset[str]:
    """The query parameters this route takes (worked out once per route)."""
    cached = _known.get(id(route))
    if cached is not None and cached[0]() is route:
        return cached[1]
    known = frozenset(_query_names(route.dependant))
    _known[id(route)] = (weakref.ref(route), known)
    return known


async def refuse_unknown_query(request: Request) -> None:
    """422 naming every query parameter the route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = known_query(route)
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "unknown_parameter",
                    "loc": ("query", name),
                    "msg": "this query parameter is not known here",
                    "input": request.query_params[name],
                }
                for name in unknown
            ]
        )


_DATE_FIRST = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]")


def _date_and_time(value: object) -> object:
    if isinstance(value, str) and not _DATE_FIRST.match(value):
        raise ValueError(
            "expected a date and time with its offset, such as 2026-06-03T09:00:00-04:00"
        )
    return value


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Instant = Annotated[AwareDatetime, BeforeValidator(_date_and_time), AfterValidator(_in_utc)]
