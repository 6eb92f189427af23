"""/health (the process is up) and /ready (MySQL and Redis answer) for probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from scaisend_api.state import AppState

router = APIRouter(tags=["health"])
PROBE_TIMEOUT = 2.0


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


@router.get("/ready", response_model=None)
async def ready(request: Request) -> dict[str, str] | JSONResponse:
    state: AppState = request.app.state.scaisend
    problems = {}
    try:
        async with asyncio.timeout(PROBE_TIMEOUT), state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready", and says why
        problems["database"] = type(exc).__name__
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await state.redis.ping()
    except Exception as exc:
        problems["redis"] = type(exc).__name__
    if problems:
        return JSONResponse(status_code=503, content={"status": "not ready", **problems})
    return {"status": "ready"}
