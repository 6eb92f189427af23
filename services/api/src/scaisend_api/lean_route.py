"""LeanRoute: an APIRoute for the hot path whose endpoint is called without FastAPI's
per-request machinery (dependency solving, body parsing, response model, two exit stacks).

The route is declared like any other (OpenAPI, the one permission, `scope["route"]` for metrics
and rate limits), but its endpoint may only take the Request and the Principal of one
RequirePermission dependency, and must return a Response. Exceptions go up to the app's
exception handlers as from any route (Starlette's ExceptionMiddleware wraps the router)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from scaisend_api.auth import Principal
from scaisend_api.deps import RequirePermission

LeanEndpoint = Callable[[Request, Principal], Awaitable[Response]]


class LeanRoute(APIRoute):
    """Used as `APIRouter(route_class=LeanRoute)`. A method the route does not serve goes to
    APIRoute's own handling (the 405)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._guard = _the_one_permission(self)
        self._lean: LeanEndpoint = endpoint

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            await super().handle(scope, receive, send)
            return
        response = await self.respond(Request(scope, receive, send))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        """The permission check, then the endpoint (the app's fast path calls this too)."""
        principal = await self._guard(request)
        return await self._lean(request, principal)


def _the_one_permission(route: APIRoute) -> RequirePermission:
    """The endpoint's shape is checked once, at start-up: (request, principal) and nothing else
    for FastAPI to solve, so calling it directly does what FastAPI would have done."""
    guards = [d.call for d in route.dependant.dependencies]
    params = list(inspect.signature(route.endpoint).parameters)
    if (
        len(guards) != 1
        or not isinstance(guards[0], RequirePermission)
        or route.dependant.dependencies[0].dependencies
        or len(params) != 2
        or route.dependant.request_param_name != params[0]
        or route.dependant.query_params
        or route.dependant.header_params
        or route.dependant.body_params
        or not inspect.iscoroutinefunction(route.endpoint)
    ):
        raise TypeError(f"{route.path}: a LeanRoute endpoint takes (Request, RequirePermission)")
    return guards[0]
