"""Staff routes refuse query parameters they do not take.

A misspelt or unknown filter (`?q=Dana` where there is no search, `?reference=`) would
otherwise be ignored, and the answer would be everything, as if nothing had been asked:
a 422 naming the parameter says what went wrong. Routers declare `refuse_unknown_query`
after authentication, so that a caller without a token learns nothing from it.
"""

from __future__ import annotations

import weakref

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

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
