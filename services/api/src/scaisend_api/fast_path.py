"""ScaiSendApp: the FastAPI app, serving POST /v3/mail/send without Starlette's per-request
layers (five middlewares, the router's scan) and everything else as FastAPI does.

A send is the API's hot path; those layers cost it ~70 us of CPU for wrappers that, on that one
route, only count, add headers and turn exceptions into responses. The fast path does exactly
that, in one function, with the stack's own parts: the route's matching (scope keys), the
metrics and rate-limit-header helpers the middlewares use, the exception handlers and 500
handler the stack was built with. It is taken only when the built stack is the one it stands
for (checked once, on the first request); any other stack (a middleware added, debug, a body
limit, telemetry configured, a root_path) serves every request the normal way."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.routing import RouteContext, iter_route_contexts
from starlette._exception_handler import _lookup_exception_handler
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaisend_api.lean_route import LeanRoute
from scaisend_api.observability import MetricsMiddleware, record
from scaisend_api.ratelimit import RateLimitHeadersMiddleware, add_rate_limit_headers

# The stack the fast path stands for, outermost first (FastAPI's build_middleware_stack with
# our two middlewares; the telemetry and body-limit layers pass through when unconfigured).
_STACK = (
    ServerErrorMiddleware,
    "ExceptionTelemetryMiddleware",
    "AppBodyLimitMiddleware",
    MetricsMiddleware,
    RateLimitHeadersMiddleware,
    ExceptionMiddleware,
    AsyncExitStackMiddleware,
)


# Every handler is checked to be a coroutine function (_known_stack), as the stack awaits them.
Handler = Callable[[Request, Exception], Awaitable[Response | None]]


class _Layers:
    """What the fast path takes from the built stack: the 500 handler and the handler tables."""

    def __init__(self, server_errors: ServerErrorMiddleware, exceptions: ExceptionMiddleware):
        self.error_handler = cast(Handler, server_errors.handler)
        self.exception_handlers = exceptions._exception_handlers
        self.status_handlers = exceptions._status_handlers

    def handler_for(self, exc: Exception) -> Handler | None:
        """ExceptionMiddleware's lookup: a status handler for an HTTPException, else by MRO."""
        handler = None
        if isinstance(exc, HTTPException):
            handler = self.status_handlers.get(exc.status_code)
        return cast(
            Handler | None, handler or _lookup_exception_handler(self.exception_handlers, exc)
        )


class ScaiSendApp(FastAPI):
    """`fast_paths = False` serves every request through the stack (the tests compare both)."""

    fast_paths = True
    _layers: _Layers | None = None
    _fast: dict[str, LeanRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.fast_paths:
            route = self._fast_routes().get(scope["path"])
            if (
                route is not None
                and not scope.get("root_path")
                and not self._native_telemetry.enabled()
            ):
                await self._serve(route, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _fast_routes(self) -> dict[str, LeanRoute]:
        if self._fast is None:
            self._fast = self._find_fast_routes()
        return self._fast

    def _find_fast_routes(self) -> dict[str, LeanRoute]:
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        layers = _known_stack(self.middleware_stack, self.router)
        if layers is None or self.root_path or self.debug:
            return {}
        self._layers = layers
        contexts = list(iter_route_contexts(self.router.routes))
        lean = {
            context.original_route.path: context.original_route
            for context in contexts
            if isinstance(context.original_route, LeanRoute)
            and context.methods == {"POST"}
            and context.path == context.original_route.path
            and "{" not in context.path
        }
        return {
            path: route for path, route in lean.items() if _first_match(contexts, path) is route
        }

    def _enter(self, route: LeanRoute, scope: Scope) -> _Layers:
        """The scope keys the app, the router and ExceptionMiddleware would have set."""
        layers = self._layers
        assert layers is not None
        scope["app"] = self
        if "router" not in scope:
            scope["router"] = self.router
        match, child_scope = route.matches(scope)
        assert match is Match.FULL
        scope["route"] = route
        scope.update(child_scope)
        scope["starlette.exception_handlers"] = (layers.exception_handlers, layers.status_handlers)
        return layers

    async def _serve(self, route: LeanRoute, scope: Scope, receive: Receive, send: Send) -> None:
        """ServerErrorMiddleware, MetricsMiddleware, RateLimitHeadersMiddleware, the router's
        match, then ExceptionMiddleware around the route, as one call."""
        layers = self._enter(route, scope)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def respond(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                add_rate_limit_headers(scope, message)
            await send(message)

        try:
            request = Request(scope, receive, respond)
            try:
                response = await route.respond(request)
                await response(scope, receive, respond)
            except Exception as exc:
                handler = layers.handler_for(exc)
                if handler is None:
                    raise
                if response_started:
                    raise RuntimeError(
                        "Caught handled exception, but response already started."
                    ) from exc
                handled = await handler(request, exc)
                if handled is not None:
                    await handled(scope, receive, respond)
                exc.__traceback__ = None
        except Exception as error:
            # ServerErrorMiddleware: the 500 handler's response (not through the middlewares
            # it sits outside of), then the exception goes on to the server to be logged
            error_response = await layers.error_handler(Request(scope), error)
            if not response_started:
                assert error_response is not None
                await error_response(scope, receive, send)
            raise
        finally:
            record(scope, status, started)


def _first_match(contexts: list[RouteContext], path: str) -> object:
    """The route the router would give a POST to `path` (it takes the first full match)."""
    scope = {"type": "http", "method": "POST", "path": path, "root_path": ""}
    for context in contexts:
        match, _ = context.matches(dict(scope))
        if match is Match.FULL:
            return context.original_route
    return None


def _known_stack(stack: ASGIApp, router: Any) -> _Layers | None:
    """The layers if `stack` is exactly _STACK around the router (which has no middleware)."""
    found: list[Any] = []
    app: Any = stack
    for expected in _STACK:
        name = type(app).__name__
        if (expected if isinstance(expected, str) else expected.__name__) != name:
            return None
        if name == "AppBodyLimitMiddleware" and not isinstance(app.app, MetricsMiddleware):
            return None  # a body limit is configured
        found.append(app)
        app = app.app
    if app is not router or router.middleware_stack != router.app:
        return None
    server_errors, exceptions = found[0], found[5]
    handlers = [server_errors.handler, *exceptions._exception_handlers.values(),
                *exceptions._status_handlers.values()]  # fmt: skip
    if server_errors.debug or not all(inspect.iscoroutinefunction(h) for h in handlers):
        return None  # debug pages, or a sync handler the stack would run in a thread
    return _Layers(server_errors, exceptions)
