"""API metrics: request count and latency by route template and status, and GET /metrics."""

from __future__ import annotations

import time
from functools import lru_cache

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaisend_api.state import AppState
from scaisend_core.metrics import sample_queues

REQUESTS = Counter("scaisend_api_requests_total", "API requests", ["method", "route", "status"])
LATENCY = Histogram(
    "scaisend_api_request_seconds", "API request latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state: AppState = request.app.state.scaisend
    await sample_queues(state.redis)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Plain ASGI (no BaseHTTPMiddleware) so the send path pays microseconds, not a task."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            record(scope, status, started)


def record(scope: Scope, status: int, started: float) -> None:
    """Count one request and its latency under its route template (the fast path too)."""
    template = getattr(scope.get("route"), "path", "unmatched")
    _requests(scope["method"], template, status).inc()
    _latency(scope["method"], template).observe(time.perf_counter() - started)


# The labelled children, looked up once per (method, route, status): `labels()` takes a lock
# and builds a key on every call, which the hot path need not pay. Routes and statuses are few.
@lru_cache(maxsize=4096)
def _requests(method: str, template: str, status: int) -> Counter:
    return REQUESTS.labels(method, template, str(status))


@lru_cache(maxsize=1024)
def _latency(method: str, template: str) -> Histogram:
    return LATENCY.labels(method, template)
